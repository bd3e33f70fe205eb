/* Calls every manda import: ctxid, port_new, port_try on an empty port,
   fork with an argument, sleep_ms, port_send, port_recv, port_close. */
#include <stdio.h>
#include "manda.h"
static int port;
static void child(int k) {
  int id = manda_ctxid() * 100 + k;
  manda_sleep_ms(20);
  manda_port_send(port, &id, sizeof id);
}
int main(void) {
  printf("ctxid %d\n", manda_ctxid());
  port = manda_port_new();
  int buf = 0;
  printf("try on an empty port: %d\n", manda_port_try(port, &buf, sizeof buf));
  int c = manda_fork(child, 7);
  int n = manda_port_recv(port, &buf, sizeof buf);
  printf("child %d sent %d (%d bytes)\n", c, buf, n);
  manda_port_close(port);
  printf("receive after close: %d\n", manda_port_recv(port, &buf, sizeof buf));
  return 0;
}
