#!/usr/bin/env sh
# `npx imctl …` entry: runs scripts/imctl.ts in node with the project's tsx loader. Not through the tsx command: on a
# Ctrl-C it passes the signal on and, when the script's notice of it takes over 60 ms (a loaded machine), kills the
# script, which would cut a shard move short, leaving the shard unserved until the coordinator rolls it back.
dir=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
exec node --import "$dir/../node_modules/tsx/dist/loader.mjs" "$dir/imctl.ts" "$@"
