/* selftest.h - test=lib: kernel_lib unit tests on the target (selftest.c). */
#ifndef BAREFLOW_SELFTEST_H
#define BAREFLOW_SELFTEST_H
void selftest_run(void) __attribute__((noreturn));
/* test=blobs: print the FNV-1a of the model and tokenizer as loaded, then power off. */
struct boot_info;
void selftest_blobs(const struct boot_info *bi) __attribute__((noreturn));
/* test=keys: print the code of every key keyboard_getchar returns until 'q'. */
void selftest_keys(void) __attribute__((noreturn));
/* test=input: echo lines read with console_readline until "quit". */
void selftest_input(void) __attribute__((noreturn));
#endif
