/*
 * broker.c - the stateless bus broker.
 *
 * One thread reads the front (raw REP) socket and hands each request to
 * the backend (raw REQ) socket of the service its frame names; nng's raw
 * REQ load-balances over the replicas connected to that backend.  One
 * thread per backend returns replies to the front, where the raw REP
 * header routes each to its caller.  PUB/SUB is a plain nng_device.
 * When no replica of a service is connected, the broker answers 503 at
 * once rather than letting the caller wait out its deadline.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "broker.h"
#include "bus.h"
#include "log.h"
#include "msg.h"
#include "services.h"

/* Messages a socket may queue: absorbs bursts while replicas are busy. */
#define BROKER_QUEUE	1024

struct broker_back {
	struct broker	*bb_broker;
	const char	*bb_name;
	nng_socket	 bb_sock;
	atomic_int	 bb_pipes;
	pthread_t	 bb_thread;
};

struct broker {
	nng_socket		 br_front;
	nng_socket		 br_pub_in;	/* SUB: publishers dial */
	nng_socket		 br_pub_out;	/* PUB: subscribers dial */
	struct broker_back	 br_back[SVC_COUNT];
	pthread_t		 br_front_thread;
	pthread_t		 br_pubsub_thread;
	atomic_ullong		 br_forwarded;
	atomic_ullong		 br_refused;
};

static void
broker_pipe_ev(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct broker_back	*bb = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&bb->bb_pipes, 1);
		log_info("replica of '%s' connected", bb->bb_name);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&bb->bb_pipes, 1);
		log_info("replica of '%s' disconnected", bb->bb_name);
	}
}

/* Answers a request directly with status and message, keeping its route. */
static void
broker_refuse(struct broker *br, nng_msg *req, const char *payload,
    size_t plen, int status, const char *why)
{
	json_error_t	 je;
	json_t		*env, *rep;
	const char	*id = NULL;
	char		*js = NULL;
	nng_msg		*m = NULL;

	atomic_fetch_add(&br->br_refused, 1);
	env = json_loadb(payload, plen, 0, &je);
	if (env != NULL)
		id = json_string_value(json_object_get(env, "id"));
	if (id == NULL)
		goto done;	/* the caller could not match it anyway */
	rep = msg_reply(id, status, msg_error_body("%s", why));
	js = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
	json_decref(rep);
	if (js == NULL || nng_msg_alloc(&m, 0) != 0)
		goto done;
	if (nng_msg_header_append(m, nng_msg_header(req),
	    nng_msg_header_len(req)) != 0 ||
	    nng_msg_append(m, js, strlen(js)) != 0 ||
	    nng_sendmsg(br->br_front, m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
	}
 done:
	free(js);
	json_decref(env);
}

static void *
broker_front_main(void *arg)
{
	struct broker		*br = arg;
	struct broker_back	*bb;
	nng_msg			*m;
	const char		*payload;
	char			 svc[64], why[128];
	size_t			 plen;
	int			 i, rv;

	for (;;) {
		if ((rv = nng_recvmsg(br->br_front, &m, 0)) != 0) {
			if (rv == NNG_ECLOSED)
				break;
			continue;
		}
		payload = msg_unframe(nng_msg_body(m), nng_msg_len(m), svc,
		    sizeof(svc), &plen);
		bb = NULL;
		for (i = 0; payload != NULL && i < SVC_COUNT; i++)
			if (strcmp(br->br_back[i].bb_name, svc) == 0)
				bb = &br->br_back[i];
		if (bb == NULL) {
			if (payload != NULL) {
				snprintf(why, sizeof(why), "unknown service "
				    "'%s'", svc);
				broker_refuse(br, m, payload, plen, 404, why);
			}
			nng_msg_free(m);
			continue;
		}
		if (atomic_load(&bb->bb_pipes) <= 0) {
			snprintf(why, sizeof(why), "service '%s' unavailable",
			    svc);
			broker_refuse(br, m, payload, plen, 503, why);
			nng_msg_free(m);
			continue;
		}
		if (nng_sendmsg(bb->bb_sock, m, NNG_FLAG_NONBLOCK) != 0) {
			snprintf(why, sizeof(why), "service '%s' busy", svc);
			broker_refuse(br, m, payload, plen, 503, why);
			nng_msg_free(m);
			continue;
		}
		atomic_fetch_add(&br->br_forwarded, 1);
	}
	return (NULL);
}

static void *
broker_back_main(void *arg)
{
	struct broker_back	*bb = arg;
	nng_msg			*m;
	int			 rv;

	for (;;) {
		if ((rv = nng_recvmsg(bb->bb_sock, &m, 0)) != 0) {
			if (rv == NNG_ECLOSED)
				break;
			continue;
		}
		if (nng_sendmsg(bb->bb_broker->br_front, m, 0) != 0)
			nng_msg_free(m);
	}
	return (NULL);
}

static void *
broker_pubsub_main(void *arg)
{
	struct broker	*br = arg;

	nng_device(br->br_pub_in, br->br_pub_out);	/* until closed */
	return (NULL);
}

static int
broker_listen(nng_socket s, const char *base, const char *role)
{
	char	addr[512];
	int	rv;

	if (bus_addr(base, role, addr, sizeof(addr)) != 0) {
		log_warnx("%s: bad bus address '%s'", __func__, base);
		return (-1);
	}
	if ((rv = nng_listen(s, addr, NULL, 0)) != 0) {
		log_warnx("%s: could not listen on '%s': %s", __func__, addr,
		    nng_strerror(rv));
		return (-1);
	}
	return (0);
}

struct broker *
broker_open(const char *base)
{
	static const char *const names[] = SVC_LIST;
	struct broker		*br;
	struct broker_back	*bb;
	int			 i;

	if ((br = calloc(1, sizeof(*br))) == NULL)
		return (NULL);
	if (nng_rep0_open_raw(&br->br_front) != 0 ||
	    nng_sub0_open_raw(&br->br_pub_in) != 0 ||
	    nng_pub0_open_raw(&br->br_pub_out) != 0)
		fatalx("%s: could not open sockets", __func__);
	nng_socket_set_int(br->br_front, NNG_OPT_RECVBUF, BROKER_QUEUE);
	nng_socket_set_int(br->br_front, NNG_OPT_SENDBUF, BROKER_QUEUE);
	if (broker_listen(br->br_front, base, "front") != 0 ||
	    broker_listen(br->br_pub_in, base, "pub") != 0 ||
	    broker_listen(br->br_pub_out, base, "sub") != 0)
		return (NULL);
	for (i = 0; i < SVC_COUNT; i++) {
		bb = &br->br_back[i];
		bb->bb_broker = br;
		bb->bb_name = names[i];
		if (nng_req0_open_raw(&bb->bb_sock) != 0)
			fatalx("%s: could not open sockets", __func__);
		nng_socket_set_int(bb->bb_sock, NNG_OPT_SENDBUF,
		    BROKER_QUEUE);
		nng_socket_set_int(bb->bb_sock, NNG_OPT_RECVBUF,
		    BROKER_QUEUE);
		nng_pipe_notify(bb->bb_sock, NNG_PIPE_EV_ADD_POST,
		    broker_pipe_ev, bb);
		nng_pipe_notify(bb->bb_sock, NNG_PIPE_EV_REM_POST,
		    broker_pipe_ev, bb);
		if (broker_listen(bb->bb_sock, base, names[i]) != 0)
			return (NULL);
	}
	for (i = 0; i < SVC_COUNT; i++)
		if (pthread_create(&br->br_back[i].bb_thread, NULL,
		    broker_back_main, &br->br_back[i]) != 0)
			fatalx("%s: could not start threads", __func__);
	if (pthread_create(&br->br_front_thread, NULL, broker_front_main,
	    br) != 0 || pthread_create(&br->br_pubsub_thread, NULL,
	    broker_pubsub_main, br) != 0)
		fatalx("%s: could not start threads", __func__);
	log_info("broker listening on %s", base);
	return (br);
}

void
broker_close(struct broker *br)
{
	int	i;

	if (br == NULL)
		return;
	nng_close(br->br_front);
	nng_close(br->br_pub_in);
	nng_close(br->br_pub_out);
	for (i = 0; i < SVC_COUNT; i++)
		nng_close(br->br_back[i].bb_sock);
	pthread_join(br->br_front_thread, NULL);
	pthread_join(br->br_pubsub_thread, NULL);
	for (i = 0; i < SVC_COUNT; i++)
		pthread_join(br->br_back[i].bb_thread, NULL);
	log_info("broker stopped: %llu forwarded, %llu refused",
	    (unsigned long long)atomic_load(&br->br_forwarded),
	    (unsigned long long)atomic_load(&br->br_refused));
	free(br);
}
