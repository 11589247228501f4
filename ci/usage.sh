# Sourced by the ci/ scripts: `usage_if_asked "$@"` prints the comment block at the top of the
# calling script (what it does, its arguments and environment) and exits 0 when the first
# argument is -h or --help.
usage_if_asked() {
  case "${1:-}" in
    -h | --help)
      sed -n '2,/^[^#]/{/^#/!q;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
  esac
}
