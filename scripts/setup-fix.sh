#!/usr/bin/env bash
# Builds the FIX venue (a QuickFIX C++ acceptor, scripts/fix/venue.cpp) and the
# benchmark's QuickFIX initiator into target/fix, installing Debian's
# libquickfix-dev and g++ first if they are missing.
# QuickFIX 1.15's headers use dynamic exception specifications: C++14.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/include/quickfix/Application.h ] || ! command -v g++ >/dev/null; then
  echo "installing libquickfix-dev and g++ (Debian packages)" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq libquickfix-dev g++ >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq libquickfix-dev g++ >/dev/null
  fi
fi
mkdir -p target/fix
for prog in venue quickfix_initiator; do
  out=target/fix/$prog
  if [ ! -x "$out" ] || [ "scripts/fix/$prog.cpp" -nt "$out" ]; then
    g++ -O2 -std=c++14 -Wno-deprecated -Wno-deprecated-declarations "scripts/fix/$prog.cpp" \
      -lquickfix -lpthread -o "$out"
  fi
done
echo "target/fix/venue and target/fix/quickfix_initiator built" >&2
