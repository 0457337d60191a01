/* selftest.h - test=lib: kernel_lib unit tests on the target (selftest.c). */
#ifndef BAREFLOW_SELFTEST_H
#define BAREFLOW_SELFTEST_H
void selftest_run(void) __attribute__((noreturn));
#endif
