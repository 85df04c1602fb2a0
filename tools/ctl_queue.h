/*
 * ctl_queue.h - mxscreen-ctl's queue commands (queue, delete, hold,
 * release, flush, requeue) on queue_directory directly; see ctl_queue.c.
 */
#ifndef MX_CTL_QUEUE_H
#define MX_CTL_QUEUE_H

#include <stdbool.h>

bool ctl_queue_command(const char *cmd);
/* argv[0] is the command; returns the exit status. */
int ctl_queue(const char *queue_dir, int argc, char **argv);

#endif
