/*
 * rampartctl.c - talk to a running rampartd through its control socket.
 *
 *   rampartctl [-c FILE] [-s SOCKET] status
 *   rampartctl [-c FILE] [-s SOCKET] ratelimit list [PATTERN]
 *   rampartctl [-c FILE] [-s SOCKET] ratelimit reset PATTERN
 *
 * The socket is policy_control_socket from the configuration file unless
 * -s names one. Prints the daemon's answer; exits 0, or 1 when the daemon
 * answered an error, 2 on a usage error, 3 when the daemon cannot be
 * reached.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rconfig.h"
#include "str.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rampartctl [-c FILE] [-s SOCKET] COMMAND\n"
            "  status                     what the policy service holds\n"
            "  ratelimit list [PATTERN]   rate-limit counters (glob PATTERN, e.g. 'sender:*@example.com')\n"
            "  ratelimit reset PATTERN    forget the matching counters\n"
            "  -c FILE    configuration file (default %s), for policy_control_socket\n"
            "  -s SOCKET  the control socket, instead of the configuration's\n",
            RAMPART_DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
    const char *config_path = RAMPART_DEFAULT_CONFIG, *sock = NULL;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    str cmd = STR_INIT, err = STR_INIT, reply = STR_INIT;
    struct config *cfg = NULL;
    char buf[4096];
    int ch, fd, rc = 0;
    ssize_t n;

    while ((ch = getopt(argc, argv, "c:s:h")) != -1) {
        switch (ch) {
        case 'c': config_path = optarg; break;
        case 's': sock = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    for (int i = optind; i < argc; i++) {
        if (strchr(argv[i], '\n') || strchr(argv[i], ' ')) {
            fprintf(stderr, "rampartctl: arguments may not contain spaces or line breaks\n");
            return 2;
        }
        str_addf(&cmd, "%s%s", i > optind ? " " : "", argv[i]);
    }
    str_addc(&cmd, '\n');
    if (sock == NULL) {
        if ((cfg = config_load(config_path, &err)) == NULL) {
            fprintf(stderr, "%s", str_cstr(&err));
            return 3;
        }
        sock = cfg->policy_control_socket;
        if (sock[0] == '\0') {
            fprintf(stderr, "rampartctl: policy_control_socket is not set in %s\n", config_path);
            config_unref(cfg);
            return 3;
        }
    }
    if (strlen(sock) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "rampartctl: socket path too long: %s\n", sock);
        config_unref(cfg);
        return 3;
    }
    memcpy(sun.sun_path, sock, strlen(sock) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0) {
        fprintf(stderr, "rampartctl: cannot connect to %s: %s\n", sock, strerror(errno));
        config_unref(cfg);
        return 3;
    }
    if (write(fd, cmd.data, (size_t) cmd.len) != cmd.len) {
        fprintf(stderr, "rampartctl: cannot send to %s: %s\n", sock, strerror(errno));
        rc = 3;
    }
    while (rc == 0 && (n = read(fd, buf, sizeof(buf))) > 0)
        str_add(&reply, buf, n);
    close(fd);
    fwrite(reply.data ? reply.data : "", 1, (size_t) reply.len, stdout);
    if (rc == 0 && strncmp(str_cstr(&reply), "error:", 6) == 0)
        rc = 1;
    config_unref(cfg);
    str_free(&cmd);
    str_free(&err);
    str_free(&reply);
    return rc;
}
