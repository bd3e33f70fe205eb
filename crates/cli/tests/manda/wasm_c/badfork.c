/* Forks through a function pointer that is no table entry. */
#include "manda.h"
int main(void) {
  manda_fork((void (*)(int))123456, 0);
  manda_sleep_ms(1000);
  return 0;
}
