/* gitc command-line tool (placeholder until the commands land). */
#include "gitc.h"
#include <stdio.h>
int main(void) { printf("gitc %s\n", GITC_VERSION); return 0; }
