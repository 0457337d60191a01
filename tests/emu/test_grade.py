"""The grader (`bareflow-emu test`, emu/grade/): spec validation, the table, JUnit XML, JSON,
exit status, the same results in-process, with 2 local processes, on a Dask LocalCluster and on
a scheduler + two workers started as separate processes, and replay of the saved failures."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bareflow.emu.cli import main
from bareflow.emu.grade.spec import SpecError, parse_spec

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
sys.path.insert(0, str(ROOT / "tests" / "images"))
from build import build  # noqa: E402

TEACHING = ROOT / "examples" / "grading" / "teaching_kernel.toml"
FLUID = ROOT / "examples" / "grading" / "fluid_llama.toml"

pytestmark = pytest.mark.skipif(shutil.which("nasm") is None, reason="nasm is needed for the test kernels")

#: per image: status, checks passed, points, the first failed check's index
EXPECTED = {
    "ok.img": ("pass", 9, 9.0, None),
    "wrong.img": ("fail", 4, 3.0, 1),
    "fault.img": ("fail", 3, 4.0, 3),
    "hang.img": ("fail", 4, 5.0, 3),
    "bad.img": ("error", 0, 0.0, 1),
}


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    """A 'class' of five images: a passing kernel, a wrong string, a fault, a hang, a bad image."""
    d = tmp_path_factory.mktemp("class")
    for variant in ("ok", "wrong", "fault", "hang"):
        shutil.copy(build(f"grade_{variant}.asm"), d / f"{variant}.img")
    (d / "bad.img").write_bytes(b"\x00" * 1024)    # no 0x55AA: no BIOS boots it
    return d


def _images(d: Path) -> list[str]:
    return [str(d / n) for n in EXPECTED]


def _grade(capsys, tmp: Path, images: list[str], *extra: str, spec: Path = TEACHING) -> tuple[int, dict, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    code = main(["test", str(spec), *images, "--json", str(tmp / "r.json"), "--junit", str(tmp / "r.xml"),
                 *extra])
    out = capsys.readouterr()
    return code, json.loads((tmp / "r.json").read_text()), out.out


def _comparable(doc: dict) -> list[dict]:
    """Everything a run decides (statuses, cycle stamps, messages, hashes), not where or how fast."""
    return [{k: v for k, v in r.items() if k not in ("wall_seconds", "recording_file")} for r in doc["images"]]


@pytest.fixture(scope="module")
def reference(class_dir, tmp_path_factory) -> dict:
    """The class graded in this process (-j 1): the results every other way must reproduce."""
    out = tmp_path_factory.mktemp("ref")
    code = main(["test", str(TEACHING), *_images(class_dir), "-j", "1", "--json", str(out / "r.json"),
                 "--junit", str(out / "r.xml"), "--no-progress", "--quiet"])
    return {"code": code, "doc": json.loads((out / "r.json").read_text()), "dir": out}


# ------------------------------------------------------------------------------ spec schema
@pytest.mark.parametrize("text, field", [
    ("[[step]]\nwiat = 'x'\n", "step 1: needs exactly one of"),
    ("[[step]]\nwait = 'x'\nwithin = -5\n", "step 1 (wait): 'within'"),
    ("[[step]]\nwait = 'x'\nwithin = 10\n[[step]]\nexit = 'explode'\n", "step 2 (exit): 'exit'"),
    ("[options]\nmemory = 1\n[[step]]\nwait = 'x'\n", "options.memory"),
    ("[options]\nturbo = true\n[[step]]\nwait = 'x'\n", "options.turbo: unknown option"),
    ("[[step]]\nwait_regex = '('\n", "step 1 (wait_regex): 'wait_regex' is not a valid regular expression"),
    ("[[step]]\nscreen = 'hi'\nrow = 30\ncol = 0\n", "step 1 (screen): 'row'"),
    ("[[step]]\nwait = 'x'\ncolour = 'red'\n", "step 1 (wait): unknown key 'colour'"),
    ("[[step]]\nsend = 'x'\n", "no check among the steps"),
    ("[[step]]\nwait = 'x'\npoints = 'many'\n", "step 1 (wait): 'points'"),
    ("[[step]]\ntype = 'é'\n[[step]]\nno_fault = true\n", "step 1 (type): no key on a US keyboard"),
    ("name = 3\n[[step]]\nwait = 'x'\n", "name must be a string"),
    ("[[step]\n", "not valid TOML"),
])
def test_bad_spec_is_one_line_naming_the_field(text, field):
    with pytest.raises(SpecError) as exc:
        parse_spec(text.encode(), "s.toml")
    assert field in str(exc.value)
    assert str(exc.value).startswith("s.toml: ") and "\n" not in str(exc.value)


def test_bad_spec_exits_2_with_one_line(tmp_path, class_dir, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text("[[step]]\nwait = 'x'\nwithin = 'soon'\n")
    assert main(["test", str(spec), str(class_dir / "ok.img")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"bareflow-emu: {spec}: step 1 (wait): 'within' must be a positive whole number of cycles "
                   f"(e.g. 50_000_000), not 'soon'"]


def test_kernel_options_reach_the_machine_config(tmp_path):
    """The direct-kernel options map 1:1 to `run --kernel/--append` (MachineConfig fields)."""
    import dataclasses

    from bareflow.emu.grade.spec import machine_kwargs
    from bareflow.emu.machine import MachineConfig
    spec = parse_spec(b"[options]\nkernel = 'k.elf'\nappend = 'console=ttyS0'\n[[step]]\nwait = 'x'\n",
                      "s.toml", files={"kernel": b"\x7fELF"})
    kw = machine_kwargs(spec, {"kernel": tmp_path / "k.elf"})
    assert kw == {"kernel": str(tmp_path / "k.elf"), "append": "console=ttyS0"}
    assert set(kw) <= {f.name for f in dataclasses.fields(MachineConfig)}


def test_example_specs_are_valid():
    from bareflow.emu.grade.spec import load_spec
    for path in (TEACHING, FLUID):
        spec, blob = load_spec(path)
        assert spec.checks and blob.parse().sha256 == spec.sha256


# ------------------------------------------------------------------------------ one process
def test_table_junit_json_and_exit_status(reference, class_dir, capsys, tmp_path):
    assert reference["code"] == 1                      # not every check passed
    doc = reference["doc"]
    got = {Path(r["image"]).name: (r["status"], r["passed"], r["points"],
                                   r["first_failure"]["index"] if r["first_failure"] else None)
           for r in doc["images"]}
    assert got == EXPECTED
    by = {Path(r["image"]).name: r for r in doc["images"]}
    # the report names what makes the run reproducible
    assert doc["bareflow_version"] and len(doc["spec"]["sha256"]) == 64
    assert all(len(r["sha256"]) == 64 for r in doc["images"])
    # why each failed, with the guest's own words and the explainer's cause
    assert "not shown on COM1 within 20,000,000 cycles" in by["wrong.img"]["first_failure"]["message"]
    assert by["wrong.img"]["serial_tail"][0] == "teachos: helo world"
    assert "triple fault" in by["fault.img"]["first_failure"]["message"]
    assert "IDT limit is 0" in by["fault.img"]["fault"]
    hang = by["hang.img"]["first_failure"]
    assert hang["cycle"] == by["hang.img"]["cycles"] and "within 10,000,000 cycles" in hang["message"]
    assert "boot signature" in by["bad.img"]["error"]
    ok = by["ok.img"]
    assert [c["status"] for c in ok["checks"]] == ["pass"] * 9 and ok["stop"] == "powered off"
    assert ok["checks"][0]["cycle"] < ok["checks"][-1]["cycle"] == ok["cycles"]

    # JUnit XML, read by junitparser as a CI system would
    from junitparser import Error, Failure, JUnitXml
    xml = JUnitXml.fromfile(str(reference["dir"] / "r.xml"))
    suites = {Path(s.name).name: s for s in xml}
    assert set(suites) == set(EXPECTED)
    assert suites["ok.img"].tests == 9 and suites["ok.img"].failures == 0
    assert suites["wrong.img"].failures == 5 and suites["bad.img"].errors == 9
    cases = list(suites["fault.img"])
    failed = [c for c in cases if c.result and isinstance(c.result[0], Failure)]
    assert {c.name for c in failed} >= {"no exception", "powers off through ACPI"}
    assert all(isinstance(c.result[0], Error) for c in suites["bad.img"])
    props = {p.name: p.value for p in suites["ok.img"].properties()}
    assert props["image_sha256"] == ok["sha256"] and props["spec_sha256"] == doc["spec"]["sha256"]

    # the table (a run with the table on stdout)
    code, _, table = _grade(capsys, tmp_path, _images(class_dir), "-j", "1", "--no-progress")
    assert code == 1
    rows = {line.split()[0].rsplit("/", 1)[-1]: line for line in table.splitlines()
            if line.split() and line.split()[0].rsplit("/", 1)[-1] in EXPECTED}
    assert rows["ok.img"].split()[1:4] == ["pass", "9/9", "9/9"]
    assert rows["wrong.img"].split()[1:3] == ["fail", "4/9"]
    assert "#1 banner on COM1" in rows["wrong.img"]
    assert "cause: IDT limit is 0, so vector 0x30 cannot be delivered" in table
    assert "| teachos: helo world" in table
    assert "1 of 5 images passed every check, 3 failed, 1 could not run; 21/45 points" in table


def test_all_passing_exits_0(class_dir, capsys, tmp_path):
    code, doc, _ = _grade(capsys, tmp_path, [str(class_dir / "ok.img")] * 2, "-j", "1", "--no-progress")
    assert code == 0 and doc["summary"]["passed"] == 2


def test_progress_is_plain_lines_off_a_terminal(class_dir, capsys, tmp_path):
    _grade(capsys, tmp_path, [str(class_dir / "ok.img")], "-j", "1", "--quiet")
    # capsys took stderr already; run again to look at it
    main(["test", str(TEACHING), str(class_dir / "ok.img"), "-j", "1", "--quiet"])
    err = capsys.readouterr().err
    assert err == f"bareflow-emu test: 1/1 {class_dir / 'ok.img'}: pass (9/9 checks)\n"


# ------------------------------------------------------------------------------ replay
def test_saved_recordings_replay_to_the_same_failure(reference, capsys):
    from bareflow.emu.replay import main_replay
    doc = reference["doc"]
    for r in doc["images"]:
        if r["status"] != "fail":
            assert "recording_file" not in r
            continue
        rec = Path(r["recording_file"])
        assert rec.parent == reference["dir"] and rec.exists()
        recorded = json.loads(rec.read_text())
        assert recorded["end"]["cycles"] == r["first_failure"]["recorded_at"]
        code = main_replay([str(rec), "--quiet"])
        err = capsys.readouterr().err
        assert "replay identical to the recording" in err, err
        assert code == {"wrong.img": 67, "hang.img": 67, "fault.img": 65}[Path(r["image"]).name]


def test_a_failure_after_input_replays_with_its_input(class_dir, capsys, tmp_path):
    """The grader sends COM1 bytes and keys at block boundaries: the recording puts them back there."""
    spec = tmp_path / "bob.toml"
    spec.write_text(TEACHING.read_text().replace("welcome, alice", "welcome, bob"))
    code, doc, _ = _grade(capsys, tmp_path / "out", [str(class_dir / "ok.img")], "-j", "1", "--no-progress",
                          spec=spec)
    assert code == 1
    r = doc["images"][0]
    assert r["first_failure"]["index"] == 5
    rec = json.loads(Path(r["recording_file"]).read_text())
    assert [e["kind"] for e in rec["inputs"]] == ["serial"]
    from bareflow.emu.replay import main_replay
    assert main_replay([r["recording_file"], "--quiet"]) == 67
    assert "replay identical" in capsys.readouterr().err


# ------------------------------------------------------------------------------ parallel
def test_two_local_processes_give_the_same_results(reference, class_dir, capsys, tmp_path):
    code, doc, _ = _grade(capsys, tmp_path, _images(class_dir), "-j", "2", "--no-progress", "--quiet")
    assert code == reference["code"]
    assert _comparable(doc) == _comparable(reference["doc"])


def test_dask_local_cluster_gives_the_same_results(reference, class_dir, capsys, tmp_path):
    pytest.importorskip("dask.distributed")
    code, doc, _ = _grade(capsys, tmp_path, _images(class_dir), "--cluster", "local", "-j", "2",
                          "--no-progress", "--quiet")
    assert code == reference["code"]
    assert doc["runner"]["cluster"] == "local"
    assert _comparable(doc) == _comparable(reference["doc"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_and_two_workers_as_separate_processes(reference, class_dir, capsys, tmp_path):
    """`dask scheduler` and two `dask worker`s on 127.0.0.1, started as Dask's docs do."""
    pytest.importorskip("dask.distributed")
    dask_cli = Path(sys.executable).parent / "dask"
    if not dask_cli.exists():
        pytest.skip("the dask command is not installed beside this Python")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> None:
        procs.append(subprocess.Popen([str(dask_cli), *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
    try:
        start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        for _ in range(2):
            start("worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard")
        from dask.distributed import Client
        deadline = time.monotonic() + 90
        while True:        # the scheduler takes a moment to listen
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    pytest.fail("the Dask scheduler or workers did not start")
                time.sleep(0.5)
        code, doc, _ = _grade(capsys, tmp_path, _images(class_dir), "--cluster", address, "--no-progress",
                              "--quiet")
        assert code == reference["code"]
        assert doc["runner"]["cluster"] == address
        assert _comparable(doc) == _comparable(reference["doc"])
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def test_unreachable_cluster_is_one_line(class_dir, capsys):
    pytest.importorskip("dask.distributed")
    port = _free_port()
    code = main(["test", str(TEACHING), str(class_dir / "ok.img"), "--cluster", f"tcp://127.0.0.1:{port}",
                 "--connect-timeout", "2", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot reach the Dask scheduler" in err[0]


# ------------------------------------------------------------------------------ the bundled image
def test_fluid_llama_answers_and_powers_off(tmp_path, capsys):
    image = ROOT / "images" / "fluid_llama.img"
    if not image.exists():
        pytest.skip("images/fluid_llama.img is not built")
    copy = tmp_path / "fluid8.img"
    shutil.copy(image, copy)
    from bareflow.tools.image import main as image_main
    assert image_main(["set-cmdline", str(copy), "steps=8"]) == 0   # a short answer
    code, doc, table = _grade(capsys, tmp_path, [str(copy)], "-j", "1", "--no-progress", spec=FLUID)
    r = doc["images"][0]
    assert code == 0, table
    assert r["passed"] == r["total"] == 10 and r["exit_status"] == 1
    answer = next(c for c in r["checks"] if c["name"] == "answers it")
    assert answer["status"] == "pass" and answer["cycle"] > 0


def test_a_failure_reopens_in_the_tui_session_at_its_cycle(class_dir, capsys, tmp_path):
    """`bareflow-emu replay FILE --tui`: the emulator process replays the recording, then the TUI
    shows the machine paused at the failing cycle with the same COM1 output."""
    import hashlib

    from bareflow.emu.replay import load
    from bareflow.emu.session.client import RemoteSession, SessionConfig
    spec = tmp_path / "bob.toml"
    spec.write_text(TEACHING.read_text().replace("welcome, alice", "welcome, bob"))
    _, doc, _ = _grade(capsys, tmp_path / "out", [str(class_dir / "ok.img")], "-j", "1", "--no-progress",
                       spec=spec)
    rec = load(doc["images"][0]["recording_file"])
    end = rec["end"]
    session = RemoteSession(SessionConfig(image=rec["image"], memory_mb=rec["config"]["memory_mb"],
                                          replay=rec, autostart=False))
    try:
        deadline = time.monotonic() + 60
        m = session.poll()
        serial = bytearray()              # the session hands COM1 output over as it arrives
        while (m.cycles != end["cycles"] or len(serial) != end["serial_len"]) and time.monotonic() < deadline:
            time.sleep(0.05)
            for restart, data in session.take_serial():
                serial[:] = b"" if restart else serial
                serial += data
        assert m.cycles == end["cycles"] == doc["images"][0]["first_failure"]["recorded_at"]
        assert hashlib.sha256(bytes(serial)).hexdigest() == end["serial_sha256"]
        assert m.state == "paused"
    finally:
        session.close()


ALL_KINDS = """
name = "every kind of step"
[options]
memory = "16M"
within = 20_000_000
[[step]]
wait = "TEACHOS READY"
on = "screen"
[[step]]
wait_regex = 'teachos: \\w+ world'
[[step]]
expect = "hello"
[[step]]
run = 1_000_000
[[step]]
expect_regex = '^login: $'
[[step]]
send = "bob\\r"
[[step]]
wait = "welcome, bob"
[[step]]
wait = "press a key"
points = 0
[[step]]
scancodes = [0x2D, 0xAD]
[[step]]
wait = "key: x"
[[step]]
screen = "TEACHOS READY"
row = 2
col = 10
[[step]]
name = "wrong row"
screen = "TEACHOS"
row = 3
col = 10
[[step]]
forbid = "welcome, alice"
[[step]]
name = "forbidden greeting"
forbid_regex = 'welcome, \\w+'
[[step]]
name = "wrong way to stop"
exit = "debug-exit"
[[step]]
exit = "any"
status = 0
[[step]]
no_fault = true
"""


def test_every_kind_of_step(class_dir, capsys, tmp_path):
    spec = tmp_path / "all.toml"
    spec.write_text(ALL_KINDS)
    code, doc, _ = _grade(capsys, tmp_path, [str(class_dir / "ok.img")], "-j", "1", "--no-progress", spec=spec)
    r = doc["images"][0]
    got = [(c["name"], c["status"]) for c in r["checks"]]
    failing = {"wrong row", "forbidden greeting", "wrong way to stop"}
    assert [s for n, s in got] == ["fail" if n in failing else "pass" for n, _ in got], got
    assert code == 1 and r["passed"] == len(got) - 3
    checks = {c["name"]: c for c in r["checks"]}
    assert checks["wait for 'TEACHOS READY' on the screen"]["cycle"] % 100_000 == 0
    assert checks["wrong row"]["message"] == "row 3 col 10 shows '', not 'TEACHOS'"
    assert checks["forbidden greeting"]["message"] == "COM1 shows the forbidden 'welcome, bob'"
    assert checks["wrong way to stop"]["message"].startswith("expected debug-exit, got power-off status 0 at cycle")
    assert r["first_failure"]["check"] == "wrong row"


def test_progress_bar_on_a_terminal():
    import io

    from bareflow.emu.grade.cli import ProgressBar

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True
    out = Tty()
    bar = ProgressBar(stream=out)
    for i in (1, 2):
        bar(i, 2, {"image": f"s{i}.img", "status": "pass", "passed": 9, "total": 9})
    text = out.getvalue()
    assert text.count("\r[") == 2 and "[" + "#" * 15 + "." * 15 + "] 1/2 images" in text
    assert "] 2/2 images" in text and text.endswith("\n")


def test_option_files_travel_with_the_spec(class_dir, capsys, tmp_path):
    """A file an option names (here --symbols) is read beside the spec and sent to the workers."""
    elf = ROOT / "images" / "tinyllama_bare.elf"
    if not elf.exists():
        pytest.skip("images/tinyllama_bare.elf is not built")
    shutil.copy(elf, tmp_path / "k.elf")
    spec = tmp_path / "sym.toml"
    spec.write_text('[options]\nsymbols = "k.elf"\nmemory = 16\n[[step]]\nwait = "teachos: hello world"\n'
                    '[[step]]\nscreen = "TEACHOS READY"\nrow = 2\ncol = 10\n')
    from bareflow.emu.grade.spec import load_spec
    parsed, blob = load_spec(spec)
    assert blob.parse().files == parsed.files == {"symbols": elf.read_bytes()}
    code, doc, _ = _grade(capsys, tmp_path, [str(class_dir / "ok.img")] * 2, "-j", "2", "--no-progress", spec=spec)
    assert code == 0
    import hashlib
    assert doc["spec"]["files"] == {"symbols": hashlib.sha256(elf.read_bytes()).hexdigest()}


def test_a_failure_mid_run_records_only_the_inputs_before_it(class_dir, capsys, tmp_path):
    """A check fails while the guest runs on (more input follows): the recording still ends at
    the failure, and replays to it."""
    spec = tmp_path / "mid.toml"
    text = TEACHING.read_text().replace('[[step]]\nsend = "alice\\r"',
                                        '[[step]]\nname = "too early"\nexpect = "welcome"\n\n[[step]]\nsend = "alice\\r"')
    assert "too early" in text
    spec.write_text(text)
    code, doc, _ = _grade(capsys, tmp_path / "out", [str(class_dir / "ok.img")], "-j", "1", "--no-progress",
                          spec=spec)
    r = doc["images"][0]
    assert code == 1 and r["passed"] == r["total"] - 1 and r["first_failure"]["check"] == "too early"
    rec = json.loads(Path(r["recording_file"]).read_text())
    assert rec["inputs"] == [] and rec["end"]["cycles"] == r["first_failure"]["cycle"]
    from bareflow.emu.replay import main_replay
    assert main_replay([r["recording_file"], "--quiet"]) == 67
    assert "replay identical" in capsys.readouterr().err


def test_the_fault_kernel_prints_the_same_under_qemu(class_dir):
    """The test kernel is a real guest: QEMU + SeaBIOS print the same COM1 bytes up to its triple fault."""
    if shutil.which("qemu-system-i386") is None:
        pytest.skip("qemu-system-i386 is not installed")
    from build import run_qemu

    from bareflow.emu.machine import Machine, MachineConfig, StopReason
    qemu_out, _ = run_qemu(class_dir / "fault.img", timeout=60)
    m = Machine(MachineConfig(image=str(class_dir / "fault.img"), memory_mb=64))
    assert m.run(50_000_000) == StopReason.TRIPLE_FAULT
    assert bytes(m.serial_out) == qemu_out == b"teachos: hello world\r\nentering protected mode\r\n"


def test_no_fault_names_the_exception_and_allow_lets_it_pass(tmp_path, capsys):
    """fluid_llama with `test=ud` executes UD2 on purpose, reports it and halts."""
    image = ROOT / "images" / "fluid_llama.img"
    if not image.exists():
        pytest.skip("images/fluid_llama.img is not built")
    copy = tmp_path / "ud.img"
    shutil.copy(image, copy)
    from bareflow.tools.image import main as image_main
    assert image_main(["set-cmdline", str(copy), "test=ud"]) == 0
    spec = tmp_path / "nf.toml"
    spec.write_text('[options]\nwithin = 100_000_000\n[[step]]\nexit = "any"\n[[step]]\nno_fault = true\n')
    code, doc, _ = _grade(capsys, tmp_path / "a", [str(copy)], "-j", "1", "--no-progress", spec=spec)
    check = doc["images"][0]["checks"][1]
    assert code == 1 and check["status"] == "fail"
    assert check["message"].startswith("#UD: ud2 at 0x0008:") and "(cycle " in check["message"]
    spec.write_text(spec.read_text() + "allow = [6]\n")
    code, doc, _ = _grade(capsys, tmp_path / "b", [str(copy)], "-j", "1", "--no-progress", spec=spec)
    assert code == 0 and doc["images"][0]["exceptions"] == 1
