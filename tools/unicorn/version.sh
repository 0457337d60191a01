# What tools/unicorn/build_wheel.sh builds and tools/setup.sh caches (sourced by both).
UC_VERSION=2.1.4
# sha256 of unicorn-2.1.4.tar.gz as the registry serves it
UC_SDIST_SHA256=00567a70e323f749b419cd86bee4f9115beab7ebba32194581c090cbb7c59cff
_uc_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# the patches, applied in this order (tools/unicorn/README.md)
UC_PATCHES="store-path.patch exit-check.patch sync-pc.patch"
# the cache key: the sdist, every patch and how it is built
UC_KEY=$( { echo "$UC_SDIST_SHA256 $UC_PATCHES"; for _uc_p in $UC_PATCHES; do cat "$_uc_here/$_uc_p"; done;
            cat "$_uc_here/build_wheel.sh"; } | sha256sum | cut -c1-12)
UC_WHEEL_VERSION="$UC_VERSION+bareflow.$UC_KEY"
