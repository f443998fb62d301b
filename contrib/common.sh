# contrib/common.sh -- the few shell functions the contrib scripts share;
# a script sets PROG (its name, for messages) and sources this file:
#
#   PROG=chaos
#   . "$(dirname "$0")/common.sh"
#
#   die MESSAGE...   prints "PROG: MESSAGE" on stderr and exits 1
#   is_uint WORD     true when WORD is a whole number (digits only)

die() {
	echo "$PROG: $*" >&2
	exit 1
}

is_uint() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	*) return 0 ;;
	esac
}
