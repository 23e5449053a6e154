// berth-init: the first process of a sandbox without an image, in one exec from berthd. It does
// what `nsenter --net=NETNS unshare --mount --uts --propagation private sh libexec/sandbox-init`
// does (that chain stays as the fallback: BERTH_NATIVE_INIT=0, or no C compiler), without the
// seven processes the shell runs in series before the command's PID is known, and without the
// `mv` after the command ended before berthd hears of it (docs/performance.md).
//
// Usage: berth-init STATE_DIR ROOTFS HOSTNAME NETNS -- PROGRAM [ARG...]
//   NETNS ""    stay in berthd's network namespace (host mode); else the namespace file to join
//   ROOTFS ""   the host's filesystem;  HOSTNAME ""  keep the hostname (host mode)
//   PROGRAM     berthd's `/abs/env -i -- KEY=VALUE... [/abs/chroot ROOTFS] CMD...` (or tty-relay
//               before it): run by its absolute path, never through a shell or a PATH search
//
// Step by step as libexec/sandbox-init:
//   1. join NETNS, new mount and UTS namespaces, mounts made private (no mount leaks to the host)
//   2. the hostname; ROOTFS/etc/{hosts,resolv.conf,hostname} created when missing, then
//      STATE_DIR's own files bind-mounted onto them. Any failure: a message, exit 127.
//   3. the program started with our stdin (a pipe from berthd for run -i, else /dev/null), its PID
//      written to STATE_DIR/pid (via pid.tmp and rename(2), so a reader never sees half of it;
//      berthd hears the rename through inotify)
//   4. TERM, INT and WINCH forwarded to it (WINCH: a TTY's new size, for tty-relay)
//   5. when it ends: STATE_DIR/exitcode written the same way, with the code sh gives (its exit
//      status, or 128 + the signal that killed it), and the same exit code for this process.
// Messages keep the shell script's "sandbox-init:" prefix: they reach the sandbox's log, and
// berthd quotes its last lines when a start fails.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL 127

static volatile pid_t child;

static void forward(int sig) {
  // The child is reaped only with these signals blocked (see wait_child): this PID is ours.
  if (child > 0) kill(child, sig);
}

static void die(const char *what, const char *arg) {
  fprintf(stderr, "sandbox-init: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  exit(FAIL);
}

// A + B + C in a new string. Paths are built to their size, not in PATH_MAX buffers: every page
// this process touches stays resident for as long as the sandbox runs (one shim per sandbox).
static char *join3(const char *a, const char *b, const char *c) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  char *p = malloc(la + lb + lc + 1);
  if (!p) die("out of memory for", a);
  memcpy(p, a, la);
  memcpy(p + la, b, lb);
  memcpy(p + la + lb, c, lc + 1);
  return p;
}

// mkdir -p: every missing directory on the way, mode 0777 less the umask as mkdir(1) makes it.
static int mkdir_p(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int e = mkdir(path, 0777) < 0 && errno != EEXIST;
    *p = '/';
    if (e) return -1;
  }
  return mkdir(path, 0777) < 0 && errno != EEXIST ? -1 : 0;
}

// STATE_DIR/NAME and the NAME.tmp it is written through, made before the command starts (no
// allocation can fail after it runs).
struct record {
  char *dst, *tmp;
};

static struct record record_at(const char *state, const char *name) {
  char *dst = join3(state, "/", name);
  return (struct record){dst, join3(dst, ".tmp", "")};
}

// Writes "VALUE\n" to the .tmp file and renames it over the record; a failure is said, not fatal
// (the script's `echo > tmp && mv` goes on too: berthd then notices the missing file).
static void write_record(struct record r, long value) {
  char text[32];
  int n = snprintf(text, sizeof text, "%ld\n", value);
  int fd = open(r.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0 || write(fd, text, n) != n || close(fd) < 0 || rename(r.tmp, r.dst) < 0) fprintf(stderr, "sandbox-init: cannot write %s: %s\n", r.dst, strerror(errno));
}

// The sandbox's hosts, resolv.conf and hostname over the root filesystem's (the script's loop).
static void place_files(const char *state, const char *rootfs) {
  static const char *const files[] = {"hosts", "resolv.conf", "hostname"};
  char *etc = join3(rootfs, "/etc", "");
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char *target = join3(etc, "/", files[i]), *src = join3(state, "/", files[i]);
    struct stat st;
    // `[ ! -e T ] && mkdir -p ETC && : > T`: a failure here shows as the mount's failure below.
    if (stat(target, &st) < 0 && mkdir_p(etc) == 0) {
      int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
      if (fd >= 0) close(fd);
    }
    if (mount(src, target, NULL, MS_BIND, NULL) < 0) {
      fprintf(stderr, "sandbox-init: cannot mount %s on %s: %s\n", src, target, strerror(errno));
      exit(FAIL);
    }
    free(target);
    free(src);
  }
  free(etc);
}

static void enter_namespaces(const char *netns, const char *hostname) {
  if (*netns) {
    int fd = open(netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) die("cannot join the network namespace", netns);
    close(fd);
  }
  if (unshare(CLONE_NEWNS | CLONE_NEWUTS) < 0) die("cannot make the mount and UTS namespaces", NULL);
  if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("cannot make the mounts private", NULL);
  if (*hostname && sethostname(hostname, strlen(hostname)) < 0) die("cannot set the hostname to", hostname);
}

// Waits for the child without reaping it, blocks the forwarded signals, and only then reaps it:
// a signal can never be forwarded to a PID the kernel has given to another process meanwhile.
static int wait_child(const sigset_t *fwd) {
  siginfo_t info;
  while (waitid(P_PID, child, &info, WEXITED | WNOWAIT) < 0) {
    if (errno != EINTR) die("cannot wait for the command", NULL);
  }
  sigprocmask(SIG_BLOCK, fwd, NULL);
  int status;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) die("cannot wait for the command", NULL);
  }
  child = 0;
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: berth-init STATE_DIR ROOTFS HOSTNAME NETNS -- PROGRAM [ARG...]\n");
    return FAIL;
  }
  const char *state = argv[1], *rootfs = argv[2], *hostname = argv[3], *netns = argv[4];
  char **program = argv + 5;
  if (strcmp(*program, "--") == 0) program++;
  if (!*program || **program != '/') {
    fprintf(stderr, "sandbox-init: the program must be given by absolute path\n");
    return FAIL;
  }
  struct record pid_record = record_at(state, "pid"), exit_record = record_at(state, "exitcode");
  enter_namespaces(netns, hostname);
  place_files(state, rootfs);

  // The signals are blocked from before the fork until the handlers know the child's PID; the
  // child unblocks them (its dispositions are still the defaults berthd's spawn gave us).
  sigset_t fwd, old;
  sigemptyset(&fwd);
  sigaddset(&fwd, SIGTERM);
  sigaddset(&fwd, SIGINT);
  sigaddset(&fwd, SIGWINCH);
  sigprocmask(SIG_BLOCK, &fwd, &old);
  pid_t pid = fork();
  if (pid < 0) die("cannot start", *program);
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    execv(*program, program);
    fprintf(stderr, "sandbox-init: cannot run %s: %s\n", *program, strerror(errno));
    _exit(FAIL);
  }
  child = pid;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGWINCH, &sa, NULL);
  write_record(pid_record, pid);
  sigprocmask(SIG_SETMASK, &old, NULL);

  int code = wait_child(&fwd);
  write_record(exit_record, code);
  return code;
}
