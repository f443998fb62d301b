# contrib/common.sh -- the few shell functions the contrib scripts share;
# a script sets PROG (its name, for messages) and sources this file:
#
#   PROG=chaos
#   . "$(dirname "$0")/common.sh"
#
#   die MESSAGE...   prints "PROG: MESSAGE" on stderr and exits 1
#   is_uint WORD     true when WORD is a whole number (digits only)
#   port_of I        the I-th word of $PORTS: nodeI's port

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

port_of() {
	# shellcheck disable=SC2086 # split the port list on purpose
	set -- "$1" $PORTS
	shift "$1"
	echo "$1"
}
