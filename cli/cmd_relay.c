/* SPDX-License-Identifier: MIT */
/* vmcs12ctl send / recv / status: clients of the local vmcs12d. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static const char send_usage[] =
    "usage: vmcs12ctl send --peer NAME --vm NAME --vcpu N [--migration ID] [--seq N]\n"
    "                      [--socket PATH] [--timeout SECONDS] [IN]\n"
    "\n"
    "Hand a kvm_nested_state blob (in this host's layout) to the local vmcs12d, which validates\n"
    "it, converts it for the destination host's layout and relays it over mutual TLS. Exits 0\n"
    "only once the destination has stored it durably; (migration, vm, vcpu, seq) identifies the\n"
    "blob, so sending it again is safe.\n"
    "\n"
    "  --peer NAME        destination, as configured in [peer NAME]\n"
    "  --vm NAME          domain name; --vcpu N  vCPU index\n"
    "  --migration ID     migration id (default 'default'); --seq N  sequence number (default 0)\n"
    "  --socket PATH      control socket (default " V12_DEFAULT_SOCKET ")\n"
    "  --timeout SECONDS  give up after this long (default 30)\n"
    "  -h, --help         this text\n"
    "\n"
    "exit: 0 stored at the destination, 1 refused or failed (reason on stderr), 2 usage error\n";

static const char recv_usage[] =
    "usage: vmcs12ctl recv --vm NAME --vcpu N [--migration ID] [--socket PATH] [--wait SECONDS] [-o OUT]\n"
    "\n"
    "Fetch the newest blob stored for (vm, vcpu) by the local vmcs12d (a destination host), in\n"
    "this host's layout. With --wait, wait that long for it to arrive.\n"
    "\n"
    "  --migration ID     only this migration (default: any, newest first)\n"
    "  --socket PATH      control socket (default " V12_DEFAULT_SOCKET ")\n"
    "  --wait SECONDS     wait for the blob (default 0: answer at once)\n"
    "  -o, --output OUT   output file (default '-'), written all or nothing\n"
    "  -h, --help         this text\n"
    "\n"
    "exit: 0 written, 1 not found or failed, 2 usage error\n";

static const char status_usage[] = "usage: vmcs12ctl status [--socket PATH] [--json]\n"
                                   "\n"
                                   "Peers, their connection state and announced layouts, and the daemon's counters.\n";

static const char ready_usage[] =
    "usage: vmcs12ctl ready [--socket PATH] [--timeout SECONDS]\n"
    "\n"
    "Can the local vmcs12d take a migration now? Yes when it answers and at least one configured\n"
    "peer's link is up. For the libvirt hook and scripts: silent on yes, one line on stderr saying\n"
    "why not.\n"
    "\n"
    "  --socket PATH      control socket (default " V12_DEFAULT_SOCKET ")\n"
    "  --timeout SECONDS  how long to wait for the answer (default 5)\n"
    "\n"
    "exit: 0 ready, 1 not ready (or not answering), 2 usage error\n";

static const char check_usage[] =
    "usage: vmcs12ctl check --peer NAME [--socket PATH] [--json]\n"
    "\n"
    "Can nested state move between this host and a peer? Asks the local vmcs12d what the peer\n"
    "announced (layout, profile) and lists the catalogued fields that have no place on the other\n"
    "side, each way: a nested guest whose L1 hypervisor uses one of them cannot migrate there.\n"
    "\n"
    "  --peer NAME        as configured in [peer NAME]\n"
    "  --socket PATH      control socket (default " V12_DEFAULT_SOCKET ")\n"
    "  --json             one JSON object on stdout\n"
    "\n"
    "exit: 0 every field of this host's layout has a place at the peer, 1 not (or the peer has not\n"
    "announced its layout, or vmcs12d does not answer), 2 usage error\n";

static int usage_error(const char *what)
{
    v12_errorf("%s", what);
    return V12_EXIT_USAGE;
}

static int opt_uint(const char *name, const char *arg, unsigned long long max, unsigned long long *ret)
{
    if (v12_parse_uint(arg, 0, max, ret) == 0) return 0;
    v12_errorf("%s: '%s' is not a whole number in 0..%llu", name, arg, max);
    return V12_E_INVALID_ARGUMENT;
}

int send_main(int argc, char **argv)
{
    static const struct option options[] = {{"peer", required_argument, NULL, 'p'},
                                            {"vm", required_argument, NULL, 'v'},
                                            {"vcpu", required_argument, NULL, 'c'},
                                            {"migration", required_argument, NULL, 'm'},
                                            {"seq", required_argument, NULL, 's'},
                                            {"socket", required_argument, NULL, 'S'},
                                            {"timeout", required_argument, NULL, 't'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *peer = NULL, *vm = NULL, *mig = "default", *sock = V12_DEFAULT_SOCKET;
    unsigned long long vcpu = 0, seq = 0, timeout = 30;
    bool have_vcpu = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'p': peer = optarg; break;
        case 'v': vm = optarg; break;
        case 'm': mig = optarg; break;
        case 'S': sock = optarg; break;
        case 'c':
            if (opt_uint("--vcpu", optarg, UINT32_MAX, &vcpu)) return V12_EXIT_USAGE;
            have_vcpu = true;
            break;
        case 's':
            if (opt_uint("--seq", optarg, UINT64_MAX, &seq)) return V12_EXIT_USAGE;
            break;
        case 't':
            if (opt_uint("--timeout", optarg, 86400, &timeout) || timeout == 0) {
                if (timeout == 0) v12_errorf("--timeout: must be at least 1 second");
                return V12_EXIT_USAGE;
            }
            break;
        case 'h': return v12_usage(send_usage, false);
        default: return v12_usage(send_usage, true);
        }
    }
    if (!peer || !vm || !have_vcpu) return usage_error("--peer, --vm and --vcpu are required");
    if (argc - optind > 1) return usage_error("one input at most");
    const char *in_path = optind < argc ? argv[optind] : "-";

    uint8_t *data;
    size_t len;
    int r = v12_read_input(in_path, V12_BLOB_MAX, &data, &len);
    if (r) {
        v12_errorf("%s: cannot read input: %s [%s]", v12_in_name(in_path), v12_strerror(r), v12_err_name(r));
        return V12_EXIT_INVALID;
    }
    Vmcs12d__V1__Blob b;
    vmcs12d__v1__blob__init(&b);
    V12Envelope env, *reply = NULL;
    vmcs12d__v1__envelope__init(&env);
    b.peer = v12_pb_str(peer);
    b.vm = v12_pb_str(vm);
    b.migration_id = v12_pb_str(mig);
    b.vcpu = (uint32_t)vcpu;
    b.seq = seq;
    b.data.data = data;
    b.data.len = len;
    /* The daemon gives up a little before we do, so that its answer says why. */
    b.timeout_ms = (uint32_t)(timeout * 1000 > 1000 ? timeout * 1000 - 500 : 500);
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_BLOB;
    env.blob = &b;
    struct v12_errmsg err = {""};
    int ret = V12_EXIT_INVALID;
    r = v12_client_call(sock, &env, (unsigned)(timeout * 1000), &reply, &err);
    free(data);
    if (r) {
        v12_errorf("%s [%s]", err.text, v12_err_name(r));
        return ret;
    }
    if (reply->msg_case != VMCS12D__V1__ENVELOPE__MSG_ACK) {
        v12_errorf("unexpected answer from vmcs12d [PROTOCOL]");
    } else if (reply->ack->code != 0) {
        v12_errorf("%s: %s [%s]", vm, reply->ack->message, reply->ack->error);
    } else {
        const Vmcs12d__V1__Ack *a = reply->ack;
        char conv[256] = "";
        if (a->conversion && a->conversion->regions)
            snprintf(conv, sizeof(conv), ", converted %s -> %s, %u regions, %u fields, %u padding bytes dropped",
                     a->conversion->from, a->conversion->to, a->conversion->regions, a->conversion->fields,
                     a->conversion->bytes_dropped);
        v12_linef(stdout, "%s vcpu %u seq %" PRIu64 ": stored by %s as %s%s%s", vm, a->vcpu, a->seq, peer, a->stored_as,
                  a->duplicate ? " (already stored: duplicate)" : "", conv);
        ret = V12_EXIT_OK;
    }
    v12_envelope_free(reply);
    return ret;
}

int recv_main(int argc, char **argv)
{
    static const struct option options[] = {{"vm", required_argument, NULL, 'v'},
                                            {"vcpu", required_argument, NULL, 'c'},
                                            {"migration", required_argument, NULL, 'm'},
                                            {"socket", required_argument, NULL, 'S'},
                                            {"wait", required_argument, NULL, 'w'},
                                            {"output", required_argument, NULL, 'o'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *vm = NULL, *mig = "", *sock = V12_DEFAULT_SOCKET, *out = "-";
    unsigned long long vcpu = 0, wait = 0;
    bool have_vcpu = false;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'v': vm = optarg; break;
        case 'm': mig = optarg; break;
        case 'S': sock = optarg; break;
        case 'o': out = optarg; break;
        case 'c':
            if (opt_uint("--vcpu", optarg, UINT32_MAX, &vcpu)) return V12_EXIT_USAGE;
            have_vcpu = true;
            break;
        case 'w':
            if (opt_uint("--wait", optarg, 86400, &wait)) return V12_EXIT_USAGE;
            break;
        case 'h': return v12_usage(recv_usage, false);
        default: return v12_usage(recv_usage, true);
        }
    }
    if (!vm || !have_vcpu) return usage_error("--vm and --vcpu are required");
    if (optind != argc) return usage_error("unexpected argument");
    Vmcs12d__V1__RecvRequest q;
    vmcs12d__v1__recv_request__init(&q);
    V12Envelope env, *reply = NULL;
    vmcs12d__v1__envelope__init(&env);
    q.vm = v12_pb_str(vm);
    q.migration_id = v12_pb_str(mig);
    q.vcpu = (uint32_t)vcpu;
    q.wait_ms = (uint32_t)(wait * 1000);
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_RECV;
    env.recv = &q;
    struct v12_errmsg err = {""};
    int r = v12_client_call(sock, &env, (unsigned)(wait * 1000 + 5000), &reply, &err);
    if (r) {
        v12_errorf("%s [%s]", err.text, v12_err_name(r));
        return V12_EXIT_INVALID;
    }
    int ret = V12_EXIT_INVALID;
    if (reply->msg_case != VMCS12D__V1__ENVELOPE__MSG_RECV_REPLY) {
        v12_errorf("unexpected answer from vmcs12d [PROTOCOL]");
    } else if (reply->recv_reply->code != 0 || !reply->recv_reply->blob) {
        v12_errorf("%s [%s]", reply->recv_reply->message, reply->recv_reply->error);
    } else {
        const Vmcs12d__V1__Blob *b = reply->recv_reply->blob;
        r = v12_write_output(out, b->data.data, b->data.len);
        if (r) v12_errorf("%s: cannot write output: %s [%s]", v12_out_name(out), v12_strerror(r), v12_err_name(r));
        else {
            v12_linef(stderr, "%s vcpu %u: migration %s seq %" PRIu64 ", %zu bytes (%s)", b->vm, b->vcpu,
                      b->migration_id, b->seq, b->data.len, reply->recv_reply->stored_as);
            ret = V12_EXIT_OK;
        }
    }
    v12_envelope_free(reply);
    return ret;
}

static const char *layout_str(Vmcs12d__V1__Layout l, const char *profile)
{
    if (l == VMCS12D__V1__LAYOUT__LAYOUT_ENCODED) return "encoded";
    if (l == VMCS12D__V1__LAYOUT__LAYOUT_LEGACY) return profile && profile[0] ? profile : "legacy";
    return "unknown";
}

/* Ask the local vmcs12d for its status: the reply (v12_envelope_free it), or NULL with the error
 * said (prefix names what could not be done). */
static V12Envelope *fetch_status(const char *sock, unsigned timeout_ms, const char *prefix)
{
    Vmcs12d__V1__StatusRequest q;
    vmcs12d__v1__status_request__init(&q);
    V12Envelope env, *reply = NULL;
    vmcs12d__v1__envelope__init(&env);
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_STATUS;
    env.status = &q;
    struct v12_errmsg err = {""};
    int r = v12_client_call(sock, &env, timeout_ms, &reply, &err);
    if (r) {
        v12_errorf("%s%s [%s]", prefix, err.text, v12_err_name(r));
        return NULL;
    }
    if (reply->msg_case != VMCS12D__V1__ENVELOPE__MSG_STATUS_REPLY) {
        v12_errorf("unexpected answer from vmcs12d [PROTOCOL]");
        v12_envelope_free(reply);
        return NULL;
    }
    return reply;
}

int status_main(int argc, char **argv)
{
    static const struct option options[] = {{"socket", required_argument, NULL, 'S'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *sock = V12_DEFAULT_SOCKET;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'S': sock = optarg; break;
        case 'j': json = true; break;
        case 'h': return v12_usage(status_usage, false);
        default: return v12_usage(status_usage, true);
        }
    }
    if (optind != argc) return usage_error("unexpected argument");
    V12Envelope *reply = fetch_status(sock, 5000, "");
    if (!reply) return V12_EXIT_INVALID;
    const Vmcs12d__V1__StatusReply *s = reply->status_reply;
    if (json) {
        printf("{\"node\":");
        v12_json_str(stdout, s->node);
        printf(",\"profile_source\":");
        v12_json_str(stdout, s->profile_source);
        printf(",\"layout\":\"%s\",\"uptime_s\":%" PRIu64 ",\"connections\":%u,\"blobs_relayed\":%" PRIu64
               ",\"blobs_converted\":%" PRIu64 ",\"blobs_stored\":%" PRIu64 ",\"blobs_duplicate\":%" PRIu64
               ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"peers\":[",
               layout_str(s->layout, s->profile), s->uptime_s, s->connections, s->blobs_relayed, s->blobs_converted,
               s->blobs_stored, s->blobs_duplicate, s->bytes_in, s->bytes_out);
        for (size_t i = 0; i < s->n_peers; i++) {
            const Vmcs12d__V1__PeerStatus *p = s->peers[i];
            printf("%s{\"name\":", i ? "," : "");
            v12_json_str(stdout, p->name);
            printf(",\"address\":");
            v12_json_str(stdout, p->address);
            printf(",\"state\":\"%s\",\"layout\":\"%s\",\"blobs_sent\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
                   ",\"inbound\":%u,\"last_error\":",
                   p->state, layout_str(p->layout, p->profile), p->blobs_sent, p->bytes_sent, p->inbound);
            v12_json_str(stdout, p->last_error);
            printf("}");
        }
        printf("],\"streams\":[");
        for (size_t i = 0; i < s->n_streams; i++) {
            const Vmcs12d__V1__StreamStatus *t = s->streams[i];
            printf("%s{\"peer\":", i ? "," : "");
            v12_json_str(stdout, t->peer);
            printf(",\"direction\":\"%s\",\"kind\":\"%s\",\"target\":", t->direction, t->kind);
            v12_json_str(stdout, t->target);
            printf(",\"listen\":");
            v12_json_str(stdout, t->listen);
            printf(",\"migration_id\":");
            v12_json_str(stdout, t->migration_id);
            printf(",\"channel\":%u,\"bytes\":%" PRIu64 ",\"bytes_back\":%" PRIu64 ",\"ram_pages\":%" PRIu64
                   ",\"regions\":%u,\"seconds\":%" PRIu64 ",\"switchover_ms\":%.3f}",
                   t->channel, t->bytes, t->bytes_back, t->ram_pages, t->regions, t->seconds,
                   (double)t->switchover_us / 1000.0);
        }
        printf("],\"rejected\":{");
        for (size_t i = 0; i < s->n_rejected; i++) {
            printf("%s", i ? "," : "");
            v12_json_str(stdout, s->rejected[i]->name);
            printf(":%" PRIu64, s->rejected[i]->value);
        }
        printf("}}\n");
    } else {
        v12_linef(stdout, "node %s, layout %s%s%s%s, up %" PRIu64 " s, %u connections", s->node,
                  layout_str(s->layout, s->profile), s->profile_source[0] ? " (" : "", s->profile_source,
                  s->profile_source[0] ? ")" : "", s->uptime_s, s->connections);
        v12_linef(stdout,
                  "blobs: %" PRIu64 " relayed, %" PRIu64 " converted, %" PRIu64 " stored, %" PRIu64
                  " duplicate; bytes: %" PRIu64 " in, %" PRIu64 " out",
                  s->blobs_relayed, s->blobs_converted, s->blobs_stored, s->blobs_duplicate, s->bytes_in, s->bytes_out);
        for (size_t i = 0; i < s->n_peers; i++) {
            const Vmcs12d__V1__PeerStatus *p = s->peers[i];
            v12_linef(stdout, "peer %s (%s): %s, layout %s, %" PRIu64 " blobs sent, %u inbound%s%s", p->name,
                      p->address, p->state, layout_str(p->layout, p->profile), p->blobs_sent, p->inbound,
                      p->last_error[0] ? "; last error: " : "", p->last_error);
        }
        for (size_t i = 0; i < s->n_streams; i++) {
            const Vmcs12d__V1__StreamStatus *t = s->streams[i];
            double mib = (double)t->bytes / 1048576.0;
            char sw[64] = "";
            if (t->switchover_us) snprintf(sw, sizeof(sw), ", switchover %.2f ms", (double)t->switchover_us / 1000.0);
            v12_linef(stdout,
                      "stream %s peer %s migration %s channel %u (%s, %s%s%s%s): %.1f MiB, %" PRIu64
                      " RAM pages, %u regions "
                      "converted, %" PRIu64 " s, %.1f MiB/s%s",
                      strcmp(t->direction, "out") == 0 ? "to" : "from", t->peer, t->migration_id, t->channel, t->kind,
                      t->listen[0] ? "from " : "", t->listen, t->listen[0] ? " to " : "", t->target, mib, t->ram_pages,
                      t->regions, t->seconds, t->seconds ? mib / (double)t->seconds : mib, sw);
        }
        for (size_t i = 0; i < s->n_rejected; i++)
            v12_linef(stdout, "rejected %s: %" PRIu64, s->rejected[i]->name, s->rejected[i]->value);
    }
    v12_envelope_free(reply);
    return V12_EXIT_OK;
}

int ready_main(int argc, char **argv)
{
    static const struct option options[] = {{"socket", required_argument, NULL, 'S'},
                                            {"timeout", required_argument, NULL, 't'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *sock = V12_DEFAULT_SOCKET;
    unsigned long long timeout = 5;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'S': sock = optarg; break;
        case 't':
            if (opt_uint("--timeout", optarg, 3600, &timeout) || timeout == 0) {
                if (timeout == 0) v12_errorf("--timeout: must be at least 1 second");
                return V12_EXIT_USAGE;
            }
            break;
        case 'h': return v12_usage(ready_usage, false);
        default: return v12_usage(ready_usage, true);
        }
    }
    if (optind != argc) return usage_error("unexpected argument");
    V12Envelope *reply = fetch_status(sock, (unsigned)(timeout * 1000), "vmcs12d is not answering: ");
    if (!reply) return V12_EXIT_INVALID;
    int ret = V12_EXIT_INVALID;
    const Vmcs12d__V1__StatusReply *s = reply->status_reply;
    char why[1024] = "";
    size_t n = 0;
    for (size_t i = 0; i < s->n_peers && ret; i++) {
        const Vmcs12d__V1__PeerStatus *p = s->peers[i];
        if (strcmp(p->state, "connected") == 0) ret = V12_EXIT_OK;
        else if (n < sizeof(why))
            n += (size_t)snprintf(why + n, sizeof(why) - n, "%s%s: %s%s%s", n ? "; " : "", p->name, p->state,
                                  p->last_error[0] ? ": " : "", p->last_error);
    }
    if (ret)
        v12_errorf("vmcs12d on %s has no peer link up (%s) [PEER_DOWN]", s->node,
                   s->n_peers ? why : "no peer is configured");
    v12_envelope_free(reply);
    return ret;
}

static int wire_to_layout(Vmcs12d__V1__Layout l, const char *profile, enum v12_layout *ret)
{
    if (l == VMCS12D__V1__LAYOUT__LAYOUT_ENCODED) {
        *ret = V12_LAYOUT_ENCODED;
        return 0;
    }
    if (l == VMCS12D__V1__LAYOUT__LAYOUT_LEGACY) return v12_profile_from_name(profile, ret);
    return V12_E_PROFILE_UNKNOWN;
}

/* The catalogued fields `from` has and `to` lacks, as a JSON array or a comma-separated list. */
static void print_lost(enum v12_layout from, enum v12_layout to, bool json)
{
    const struct v12_plan *p = &v12_plans[from][to];
    if (json) putchar('[');
    for (unsigned i = 0; i < p->nlost; i++) {
        if (json) {
            printf("%s", i ? "," : "");
            v12_json_str(stdout, v12_fields[p->lost[i]].name);
        } else {
            printf("%s%s", i ? ", " : "", v12_fields[p->lost[i]].name);
        }
    }
    if (json) putchar(']');
}

int check_main(int argc, char **argv)
{
    static const struct option options[] = {{"peer", required_argument, NULL, 'p'},
                                            {"socket", required_argument, NULL, 'S'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *sock = V12_DEFAULT_SOCKET, *peer = NULL;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'p': peer = optarg; break;
        case 'S': sock = optarg; break;
        case 'j': json = true; break;
        case 'h': return v12_usage(check_usage, false);
        default: return v12_usage(check_usage, true);
        }
    }
    if (!peer) return usage_error("--peer is required");
    if (optind != argc) return usage_error("unexpected argument");
    V12Envelope *reply = fetch_status(sock, 5000, "");
    if (!reply) return V12_EXIT_INVALID;
    int ret = V12_EXIT_INVALID;
    const Vmcs12d__V1__StatusReply *s = reply->status_reply;
    const Vmcs12d__V1__PeerStatus *ps = NULL;
    for (size_t i = 0; i < s->n_peers; i++)
        if (strcmp(s->peers[i]->name, peer) == 0) ps = s->peers[i];
    enum v12_layout mine, theirs;
    if (!ps) {
        v12_errorf("peer '%s' is not configured on %s [PEER_UNKNOWN]", peer, s->node);
    } else if (wire_to_layout(s->layout, s->profile, &mine) != 0) {
        v12_errorf("%s announced no layout of its own [PROTOCOL]", s->node);
    } else if (wire_to_layout(ps->layout, ps->profile, &theirs) != 0) {
        v12_errorf("peer %s has not announced its layout yet (%s%s%s) [PEER_DOWN]", peer, ps->state,
                   ps->last_error[0] ? ": " : "", ps->last_error);
    } else {
        const struct v12_plan *there = &v12_plans[mine][theirs], *back = &v12_plans[theirs][mine];
        ret = there->nlost ? V12_EXIT_INVALID : V12_EXIT_OK;
        if (json) {
            printf("{\"node\":");
            v12_json_str(stdout, s->node);
            printf(",\"layout\":\"%s\",\"peer\":", v12_layout_name(mine));
            v12_json_str(stdout, peer);
            printf(",\"peer_layout\":\"%s\",\"to_peer_ok\":%s,\"no_place_at_peer\":", v12_layout_name(theirs),
                   there->nlost ? "false" : "true");
            print_lost(mine, theirs, true);
            printf(",\"from_peer_ok\":%s,\"no_place_here\":", back->nlost ? "false" : "true");
            print_lost(theirs, mine, true);
            printf("}\n");
        } else {
            v12_linef(stdout, "%s (%s) -> %s (%s): %s", s->node, v12_layout_name(mine), peer, v12_layout_name(theirs),
                      there->nlost ? "NOT every field has a place there" : "every field has a place there");
            if (there->nlost) {
                printf("  no place at %s: ", peer);
                print_lost(mine, theirs, false);
                printf("\n");
            }
            v12_linef(stdout, "%s (%s) -> %s (%s): %s", peer, v12_layout_name(theirs), s->node, v12_layout_name(mine),
                      back->nlost ? "NOT every field has a place here" : "every field has a place here");
            if (back->nlost) {
                printf("  no place here: ");
                print_lost(theirs, mine, false);
                printf("\n");
            }
        }
    }
    v12_envelope_free(reply);
    return ret;
}
