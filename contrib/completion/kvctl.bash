# bash completion for kvctl, the kvd command-line client.
#
# Install as $(PREFIX)/share/bash-completion/completions/kvctl (make
# install does), or source it from ~/.bashrc.  Standalone: it does not
# need the bash-completion package.
#
# Completes the commands, the cluster and hints subcommands, every flag (they
# may come anywhere on the line, as kvctl allows), the bench options, and
# file names after "put KEY @".  After "verify" and "bench", options
# kvctl itself does not know belong to that command, as in kvctl.  Bash
# cuts words at ':', '=' and '@' (COMP_WORDBREAKS) too: the pieces are
# put back together (a URL, @FILE), and each offer loses what precedes
# the last such character, which readline keeps.

_kvctl_commands="put get delete incr ls dump load mget mput watch health status
	hints repair cluster verify bench help"
_kvctl_flags="--server --json --timeout --connect-timeout --retry --r --w --ttl -q --quiet
	-v --verbose --help --version --if-match --create --etag --serial -o --output
	--cluster-secret-file"
# The flags of one command each: offered after it, and before any command.
_kvctl_command_flags="--limit --prefix --all --yes --parallel"
_kvctl_bench_opts="-c --threads -n -d -t --ratio --size --keys --prefill --raw --warmup"
_kvctl_verify_opts="-c -d --mode --prefix --size --read-r --write-r --read-budget
	--pause-before-read --keep --save --check"

# _kvctl_takes_value WORD: true when WORD is a flag whose value is the next
# word (global flags, and the options of bench and verify after them).
_kvctl_takes_value() {
	case $1 in
	--server | --timeout | --connect-timeout | --retry | --r | --w | --ttl | \
	    --if-match | --limit | --prefix | --parallel | -o | --output | \
	    --cluster-secret-file) return 0 ;;
	esac
	case $2:$1 in
	bench:-c | bench:--threads | bench:-n | bench:-d | bench:-t | \
	    bench:--ratio | bench:--size | bench:--keys | bench:--warmup) \
		return 0 ;;
	verify:-c | verify:-d | verify:--mode | verify:--size | \
	    verify:--read-r | verify:--write-r | verify:--read-budget | \
	    verify:--pause-before-read | verify:--save | verify:--check) \
		return 0 ;;
	esac
	return 1
}

# _kvctl_words: COMP_WORDS with the pieces bash cut at COMP_WORDBREAKS
# glued back where COMP_LINE has no blank between them; sets words and
# cword (COMP_WORDS as they are when there is no COMP_LINE).
_kvctl_words() {
	local i w pos=0 line=${COMP_LINE-} glued
	words=() cword=0
	for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		glued=$i
		while [ -n "$line" ] && [[ ${line:pos:1} == [[:space:]] ]]; do
			pos=$((pos + 1))
			glued=0
		done
		if [ -n "$line" ] && [ "$glued" -gt 0 ]; then
			words[${#words[@]} - 1]+=$w
		else
			words+=("$w")
		fi
		pos=$((pos + ${#w}))
		[ "$i" -eq "$COMP_CWORD" ] && cword=$((${#words[@]} - 1))
	done
}

# _kvctl_trim: readline completes only what follows the last ':', '=' or
# '@' of the word (when COMP_WORDBREAKS has it): the offers lose what
# precedes it.  Not when there is no COMP_LINE (words were not glued).
_kvctl_trim() {
	local i c
	[ -n "${COMP_LINE-}" ] || return 0
	for ((i = ${#cur} - 1; i >= 0; i--)); do
		c=${cur:i:1}
		case $c in
		: | = | @) ;;
		*) continue ;;
		esac
		[[ ${COMP_WORDBREAKS-} == *"$c"* ]] || continue
		[ ${#COMPREPLY[@]} -gt 0 ] &&
		    COMPREPLY=("${COMPREPLY[@]#"${cur:0:i+1}"}")
		return 0
	done
}

_kvctl() {
	local cur prev words cword
	COMPREPLY=()
	_kvctl_words
	cur=${words[cword]}
	prev=${words[cword - 1]-}
	_kvctl_offer
	_kvctl_trim
}

# _kvctl_offer: COMPREPLY for cur, the word at cword of words.
_kvctl_offer() {
	local i w cmd="" nargs=0 args=() dashdash=""

	# The words before the cursor that are not flags or flag values:
	# args[0] is the command, the rest its arguments.
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if [ -z "$dashdash" ]; then
			if [ "$w" = "--" ]; then
				dashdash=1
				continue
			fi
			if _kvctl_takes_value "$w" "${args[0]-}"; then
				((i++))
				continue
			fi
			case $w in
			-?*) continue ;;
			esac
		fi
		args+=("$w")
	done
	cmd=${args[0]-}
	nargs=${#args[@]}

	# The value of a flag.
	if [ -z "$dashdash" ] && _kvctl_takes_value "$prev" "$cmd"; then
		case $prev in
		--server)
			COMPREPLY=($(compgen -W "${KVCTL_SERVER:-http://127.0.0.1:8080}" \
			    -- "$cur"))
			;;
		-t)
			[ "$cmd" = bench ] &&
			    COMPREPLY=($(compgen -W "get put delete mix" -- "$cur"))
			;;
		--mode)
			COMPREPLY=($(compgen -W "keys set" -- "$cur"))
			;;
		--read-r | --write-r)
			COMPREPLY=($(compgen -W "1 2 3 all" -- "$cur"))
			;;
		-o | --output)
			COMPREPLY=($(compgen -W "table json" -- "$cur"))
			;;
		--cluster-secret-file | --save | --check)
			COMPREPLY=($(compgen -f -- "$cur"))
			;;
		esac
		return 0
	fi

	# A flag, wherever it is typed.
	if [ -z "$dashdash" ] && [[ $cur == -* ]]; then
		if [ "$cmd" = bench ]; then
			COMPREPLY=($(compgen -W "$_kvctl_flags $_kvctl_bench_opts" \
			    -- "$cur"))
		elif [ "$cmd" = verify ]; then
			COMPREPLY=($(compgen -W "$_kvctl_flags $_kvctl_verify_opts" \
			    -- "$cur"))
		else
			local own=""
			case $cmd in
			"") own=$_kvctl_command_flags ;;
			ls) own=--limit ;;
			delete) own="--prefix --all --yes" ;;
			hints) own=--yes ;;
			load) own=--parallel ;;
			esac
			COMPREPLY=($(compgen -W "$_kvctl_flags $own --" -- "$cur"))
		fi
		return 0
	fi

	case $nargs in
	0)
		COMPREPLY=($(compgen -W "$_kvctl_commands" -- "$cur"))
		return 0
		;;
	esac
	case $cmd in
	help)
		[ "$nargs" -eq 1 ] &&
		    COMPREPLY=($(compgen -W "$_kvctl_commands" -- "$cur"))
		;;
	cluster)
		[ "$nargs" -eq 1 ] &&
		    COMPREPLY=($(compgen -W "nodes join leave cleanup" -- "$cur"))
		;;
	hints)
		# hints [NODE] | hints drop OWNER: member ids are not known here.
		[ "$nargs" -eq 1 ] && COMPREPLY=($(compgen -W "drop" -- "$cur"))
		;;
	put)
		# put KEY VALUE|-|@FILE: files after '@'.
		if [ "$nargs" -eq 2 ] && [[ $cur == @* ]]; then
			local f
			while IFS= read -r f; do
				[ -d "$f" ] && f="$f/"
				COMPREPLY+=("@$f")
			done < <(compgen -f -- "${cur#@}")
			[ ${#COMPREPLY[@]} -eq 1 ] && [[ ${COMPREPLY[0]} == */ ]] &&
			    compopt -o nospace 2>/dev/null
		fi
		;;
	bench)
		COMPREPLY=($(compgen -W "$_kvctl_bench_opts" -- "$cur"))
		;;
	verify)
		COMPREPLY=($(compgen -W "$_kvctl_verify_opts" -- "$cur"))
		;;
	esac
	return 0
}

complete -F _kvctl kvctl
