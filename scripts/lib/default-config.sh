# Sourced by scripts that run the default config under another name.
# default_config_with NAME RUN_DIR EVENTS: config/pipeline.toml on stdout,
# renamed NAME (its own segments), writing to RUN_DIR, with its synthetic
# market EVENTS events long. Fails if the default no longer replays the
# source this expects, rather than silently running something else.
default_config_with() {
  local name=$1 run_dir=$2 events=$3 src='"synthetic:42:250000:2:10000"'
  grep -q "$src" config/pipeline.toml || {
    echo "config/pipeline.toml no longer replays $src: update scripts/lib/default-config.sh" >&2
    return 1
  }
  sed -e "0,/^name = \"[^\"]*\"/s//name = \"$name\"/" \
      -e "s|^run_dir = \"[^\"]*\"|run_dir = \"$run_dir\"|" \
      -e "s|$src|\"synthetic:42:$events:2:10000\"|" config/pipeline.toml
}
