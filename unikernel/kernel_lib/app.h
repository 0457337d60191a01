/* app.h - the one function the application provides.
 *
 * The kernel (unikernel/kernel/kmain.c) initialises the machine and the runtime, then calls
 * app_main once; its return value becomes the debug-exit status when the kernel powers off.
 */
#ifndef BAREFLOW_APP_H
#define BAREFLOW_APP_H

#include "boot_info.h"
#include "cmdline.h"

int app_main(const struct boot_info *bi, const struct cmdline *cl);

#endif
