/* backup.h - v2m-admin backup, restore and requeue.
 *
 * backup DIR copies the embedded deployment's data while the services run:
 * the users, job and queue databases with SQLite's online backup API, then
 * the store's finished files, then DIR/MANIFEST.json (written last: a
 * backup without it is incomplete). restore DIR puts such a copy back,
 * with the services stopped, and requeues the unfinished jobs whose message
 * the copy lacks. requeue lists the jobs left queued or converting, or
 * publishes their messages again, for a queue that lost them (any backend).
 * The locations are the services' own settings (V2M_USERS, V2M_JOBS,
 * V2M_QUEUE, V2M_STORE, VIDEO_QUEUE).
 */
#ifndef V2M_TOOLS_BACKUP_H
#define V2M_TOOLS_BACKUP_H

#include "common/config.h"

extern const v2m_cfg_table v2m_admin_data_table;

/* argv[1] is the command; the exit status (the reason printed). */
int v2m_admin_backup(int argc, char **argv);
int v2m_admin_restore(int argc, char **argv);
int v2m_admin_requeue(int argc, char **argv);

#endif
