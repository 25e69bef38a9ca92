# Test stand-in for OpenWrt's /lib/functions.sh: only the UCI calls board/openwrt's converter
# makes (config_load, config_foreach, config_get, config_get_bool, config_list_foreach), with
# their documented behaviour, reading UCI files directly instead of through `uci export`.
#
# config_load NAME reads "${UCI_CONFIG_DIR:-/etc/config}/NAME". The file format, as libuci reads
# it: one statement a line, `package NAME`, `config TYPE ['NAME']`, `option KEY 'VALUE'`,
# `list KEY 'VALUE'`; words are bare, 'single-quoted' (no escapes inside) or "double-quoted"
# (a backslash takes the next character literally), and pieces next to each other join into one
# word; a backslash outside quotes also takes the next character; `#` starting a word begins a
# comment. Sections without a name get `cfgNN`, as `uci export` names them `cfg...`.

SHIM_SECTIONS=
SHIM_COUNT=0
SHIM_CURRENT=

# The parser prints one shell command a line, each argument single-quoted, so that the shell
# never interprets a configuration value.
_shim_parse() {
	awk '
	function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
	function fail(msg) { printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"; bad = 1; exit 1 }
	{
		n = 0; i = 1; len = length($0); line = $0
		while (i <= len) {
			c = substr(line, i, 1)
			if (c == " " || c == "\t" || c == "\r") { i++; continue }
			if (c == "#") break
			word = ""
			while (i <= len) {
				c = substr(line, i, 1)
				if (c == " " || c == "\t" || c == "\r") break
				if (c == "\047") {
					j = index(substr(line, i + 1), "\047")
					if (j == 0) fail("unterminated single quote")
					word = word substr(line, i + 1, j - 1); i += j + 1
				} else if (c == "\"") {
					i++; closed = 0
					while (i <= len) {
						c = substr(line, i, 1)
						if (c == "\\" && i < len) { word = word substr(line, i + 1, 1); i += 2; continue }
						if (c == "\"") { closed = 1; i++; break }
						word = word c; i++
					}
					if (!closed) fail("unterminated double quote")
				} else if (c == "\\" && i < len) {
					word = word substr(line, i + 1, 1); i += 2
				} else {
					word = word c; i++
				}
			}
			tok[++n] = word
		}
		if (n == 0) next
		if (tok[1] == "package") next
		if (tok[1] == "config") {
			if (n < 2 || n > 3) fail("config needs a type and at most a name")
			if (tok[2] !~ /^[A-Za-z0-9_-]+$/) fail("bad section type " tok[2])
			if (n == 3 && tok[3] !~ /^[A-Za-z0-9_]+$/) fail("bad section name " tok[3])
			print "_shim_config " q(tok[2]) " " q(n == 3 ? tok[3] : "")
		} else if (tok[1] == "option" || tok[1] == "list") {
			if (n != 3) fail(tok[1] " needs a name and one value")
			if (tok[2] !~ /^[A-Za-z0-9_]+$/) fail("bad option name " tok[2])
			print "_shim_" tok[1] " " q(tok[2]) " " q(tok[3])
		} else {
			fail("unknown statement " tok[1])
		}
	}
	' "$1"
}

_shim_set() {
	eval "SHIM_V_${1}_${2}=\$3"
}

_shim_config() {
	SHIM_COUNT=$((SHIM_COUNT + 1))
	SHIM_CURRENT=${2:-$(printf 'cfg%02x' "$SHIM_COUNT")}
	SHIM_SECTIONS="$SHIM_SECTIONS $SHIM_CURRENT"
	_shim_set "$SHIM_CURRENT" TYPE "$1"
}

_shim_option() {
	[ -n "$SHIM_CURRENT" ] || { echo "functions.sh shim: option outside a section" >&2; return 1; }
	_shim_set "$SHIM_CURRENT" "$1" "$2"
}

# A list keeps its items one by one (_LENGTH, _ITEMn) and, for config_get, joined by spaces.
_shim_list() {
	[ -n "$SHIM_CURRENT" ] || { echo "functions.sh shim: list outside a section" >&2; return 1; }
	local n joined
	eval "n=\${SHIM_V_${SHIM_CURRENT}_${1}_LENGTH:-0}"
	n=$((n + 1))
	_shim_set "$SHIM_CURRENT" "${1}_ITEM$n" "$2"
	_shim_set "$SHIM_CURRENT" "${1}_LENGTH" "$n"
	eval "joined=\${SHIM_V_${SHIM_CURRENT}_${1}}"
	_shim_set "$SHIM_CURRENT" "$1" "${joined:+$joined }$2"
}

config_load() {
	local file="${UCI_CONFIG_DIR:-/etc/config}/$1" commands
	[ -f "$file" ] || { echo "functions.sh shim: no file $file" >&2; return 1; }
	commands=$(_shim_parse "$file") || return 1
	eval "$commands"
}

# config_get VAR SECTION OPTION [DEFAULT]; an empty value takes the default, as in OpenWrt.
config_get() {
	case "$1$2$3" in
	*[!A-Za-z0-9_]*) return 0 ;;
	esac
	eval "$1=\${SHIM_V_${2}_${3}:-\$4}"
}

# config_get_bool VAR SECTION OPTION [DEFAULT]: 1 or 0; a value that is not a boolean word
# gives the default.
config_get_bool() {
	local _value
	config_get _value "$2" "$3"
	case "$_value" in
	1 | on | true | yes | enabled) _value=1 ;;
	0 | off | false | no | disabled) _value=0 ;;
	*) _value=$4 ;;
	esac
	eval "$1=\$_value"
}

# config_foreach FUNCTION [TYPE] [ARGS...]: FUNCTION SECTION ARGS... for each section of TYPE
# (every section when TYPE is empty), in file order.
config_foreach() {
	local _function="$1" _type="$2" _section _section_type
	shift
	[ "$#" -gt 0 ] && shift
	for _section in $SHIM_SECTIONS; do
		config_get _section_type "$_section" TYPE
		[ -n "$_type" ] && [ "$_section_type" != "$_type" ] && continue
		"$_function" "$_section" "$@"
	done
}

# config_list_foreach SECTION OPTION FUNCTION [ARGS...]: FUNCTION ITEM ARGS... for each item.
config_list_foreach() {
	[ "$#" -ge 3 ] || return 0
	local _section="$1" _option="$2" _function="$3" _n _i=1 _item
	shift 3
	config_get _n "$_section" "${_option}_LENGTH" 0
	while [ "$_i" -le "$_n" ]; do
		config_get _item "$_section" "${_option}_ITEM$_i"
		"$_function" "$_item" "$@"
		_i=$((_i + 1))
	done
}
