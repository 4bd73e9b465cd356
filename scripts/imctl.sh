#!/usr/bin/env sh
# `npx imctl …` entry: runs scripts/imctl.ts with the project's tsx.
dir=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
exec "$dir/../node_modules/.bin/tsx" "$dir/imctl.ts" "$@"
