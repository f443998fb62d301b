/*
 * fakenode.h -- a node that answers every request with one canned body,
 * for unit tests of code that calls another node (a joining node's
 * /cluster/nodes, say).
 *
 *	struct fake_node f;
 *	fake_node_start(&f, body)  listens on 127.0.0.1:0 (f.addr) and serves
 *	                           body with 200 to every request; 0, or -1
 *	                           (said as a TAP comment)
 *	server_stop(f.srv, ms)     stops it
 *
 * Header-only, as tap.h is.
 */
#ifndef KVD_FAKENODE_H
#define KVD_FAKENODE_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "net.h"
#include "server.h"

struct fake_node {
	struct server	*srv;
	char		 addr[64];
	const char	*body;
};

static void
fake_node_handler(void *arg, const struct server_request *req,
    struct server_response *res)
{
	const struct fake_node *f = arg;

	(void)req;
	buf_puts(&res->body, f->body);
}

static inline int
fake_node_start(struct fake_node *f, const char *body)
{
	struct server_config sc;
	char err[256];
	int fd, port;

	memset(f, 0, sizeof(*f));
	f->body = body;
	if ((fd = net_listen("127.0.0.1:0", 16, &port, err, sizeof(err))) < 0) {
		printf("# a fake node cannot listen: %s\n", err);
		return -1;
	}
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", port);
	server_config_default(&sc);
	sc.listen_fd = fd;
	sc.handler = fake_node_handler;
	sc.arg = f;
	if (server_start(&f->srv, &sc) != 0) {
		printf("# a fake node's server does not start\n");
		close(fd);
		return -1;
	}
	return 0;
}

#endif
