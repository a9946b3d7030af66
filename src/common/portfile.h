/* portfile.h - tell a test harness which port a service bound.
 *
 * Tests start services on port 0 and read the bound port from the file named
 * by V2M_PORT_FILE (read at start by v2m_service_args).
 */
#ifndef V2M_PORTFILE_H
#define V2M_PORTFILE_H

/* The file to write (copied); NULL or "": none. Call once at start. */
void v2m_port_file_set(const char *path);

/* Write port to the file, when one is set. */
void v2m_write_port_file(int port);
/* The same, with the admin (metrics) port on a second line when not 0. */
void v2m_write_port_file2(int port, int admin_port);

#endif
