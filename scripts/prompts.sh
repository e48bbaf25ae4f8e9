#!/usr/bin/env bash
# Regenerates the spoken prompts: prompts/<name>.wav (conference) and prompts/voicemail/<name>.wav
# (voicemail), 8 kHz mono mu-law WAV, from the text in the .txt beside each, spoken by espeak-ng
# and converted by sox (scripts/peers.sh installs both).
# The WAV files are committed, so a node never needs these tools; run this after editing a text.
# Usage: scripts/prompts.sh [name ...]
#   name: a prompt relative to prompts/ ("goodbye", "voicemail/digit-7") or a folder ("voicemail");
#   default: every prompts/*.txt and prompts/voicemail/*.txt.
set -euo pipefail
cd "$(dirname "$0")/../prompts"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || { echo "needs espeak-ng and sox (run scripts/peers.sh)" >&2; exit 1; }
# Folders of prompts besides prompts/ itself; each feature that speaks keeps its own.
folders=(voicemail)
names=()
texts_in() { ls "$1"/*.txt | sed -e 's/\.txt$//' -e 's|^\./||'; }
if [ $# -eq 0 ]; then
  names=($(texts_in .))
  for f in "${folders[@]}"; do names+=($(texts_in "$f")); done
else
  for a in "$@"; do
    a=${a%/}
    if [ -d "$a" ]; then names+=($(texts_in "$a")); else names+=("$a"); fi
  done
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for n in "${names[@]}"; do
  [ -f "$n.txt" ] || { echo "no text for prompt $n (prompts/$n.txt)" >&2; exit 1; }
  espeak-ng -v en-us -s 155 -w "$tmp/speech.wav" -f "$n.txt"
  # espeak's silence at both ends would only delay the call; keep 50 ms at the start and
  # 150 ms at the end so consecutive prompts do not run together. gain -n -3: same loudness for all.
  sox "$tmp/speech.wav" -r 8000 -c 1 -e u-law -b 8 "$n.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.05 0.15 gain -n -3
  echo "prompts/$n.wav: $(soxi -D "$n.wav") s"
done
