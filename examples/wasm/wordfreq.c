/* The most frequent words of standard input: a hash table grown with
 * realloc, qsort, and formatted output.   wordfreq [TOP] < text */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry { char *word; long count; };
static struct entry *table;
static size_t cap, used;

static unsigned long hash(const char *s) {
  unsigned long h = 5381;
  while (*s) h = h * 33 + (unsigned char)*s++;
  return h;
}

static void add(const char *word) {
  if (2 * (used + 1) > cap) {
    size_t old = cap;
    struct entry *prev = table;
    cap = cap ? 2 * cap : 64;
    table = calloc(cap, sizeof *table);
    used = 0;
    for (size_t i = 0; i < old; i++)
      if (prev[i].word) {
        size_t j = hash(prev[i].word) & (cap - 1);
        while (table[j].word) j = (j + 1) & (cap - 1);
        table[j] = prev[i];
        used++;
      }
    free(prev);
  }
  size_t j = hash(word) & (cap - 1);
  while (table[j].word && strcmp(table[j].word, word) != 0) j = (j + 1) & (cap - 1);
  if (!table[j].word) {
    table[j].word = strdup(word);
    used++;
  }
  table[j].count++;
}

static int by_count(const void *a, const void *b) {
  const struct entry *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->word, y->word);
}

int main(int argc, char **argv) {
  int top = argc > 1 ? atoi(argv[1]) : 10;
  char word[256];
  size_t len = 0;
  long words = 0;
  int c;
  while ((c = getchar()) != EOF) {
    if (isalpha(c) || (c == '\'' && len > 0)) {
      if (len < sizeof word - 1) word[len++] = (char)tolower(c);
    } else if (len > 0) {
      word[len] = 0;
      add(word);
      words++;
      len = 0;
    }
  }
  if (len > 0) { word[len] = 0; add(word); words++; }
  struct entry *all = malloc((used ? used : 1) * sizeof *all);
  size_t n = 0;
  for (size_t i = 0; i < cap; i++)
    if (table[i].word) all[n++] = table[i];
  qsort(all, n, sizeof *all, by_count);
  printf("%ld words, %zu distinct\n", words, n);
  for (size_t i = 0; i < n && (int)i < top; i++)
    printf("%6ld %5.2f%% %s\n", all[i].count, 100.0 * all[i].count / words, all[i].word);
  return 0;
}
