/* write_fault.h - for tests of read-only shared memory: write_fault_signal(p)
 * forks a child that writes one byte at p and returns the signal that
 * ended it (SIGSEGV for a read-only mapping), 0 if the write went through.
 * Header-only: each test program includes it once, after cmocka.h.
 */
#ifndef MX_TEST_WRITE_FAULT_H
#define MX_TEST_WRITE_FAULT_H

#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int write_fault_signal(const void *p)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* cmocka catches it otherwise */
        volatile char *c = (volatile char *)(uintptr_t)p;
        *c = (char)(*c + 1);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

#endif
