#!/bin/sh
# The image's entrypoint. Lakebench runs its datagen image with arguments only (--target-tb ...
# --bucket ...): those go to Lakebench's datagen Job contract. Any other command (ray start ...,
# python -m lakebench_ray ..., bash) runs as given, so the same image also serves Ray pods; a
# single argument holding a shell command line ("ulimit -n 65536; ray start ...") runs in bash.
case "${1:-}" in
  "" | -*) exec lakebench-ray lakebench-job "$@" ;;
  *" "*) [ "$#" -eq 1 ] && exec /bin/bash -lc "$1"; exec "$@" ;;
  *) exec "$@" ;;
esac
