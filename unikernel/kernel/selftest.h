/* selftest.h - test=lib: kernel_lib unit tests on the target (selftest.c). */
#ifndef BAREFLOW_SELFTEST_H
#define BAREFLOW_SELFTEST_H
void selftest_run(void) __attribute__((noreturn));
/* test=input: echo lines read with console_readline until "quit". */
void selftest_input(void) __attribute__((noreturn));
#endif
