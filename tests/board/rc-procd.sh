# Test stand-in for OpenWrt's /etc/rc.common with USE_PROCD: runs an init script's start or reload
# with procd's calls and logger replaced by lines on stdout, so a test sees what procd would be
# told. The init script's PROG, CONVERT and CONF are replaced by the test's.
#
# Usage: sh rc-procd.sh INIT_SCRIPT start|reload
# Environment: KEEPLITE_FUNCTIONS (the functions.sh shim), UCI_CONFIG_DIR, TEST_PROG,
# TEST_CONVERT, TEST_CONF.

. "$KEEPLITE_FUNCTIONS"

logger() {
	while [ "$#" -gt 0 ]; do
		case "$1" in
		-t | -p)
			shift 2
			;;
		*) break ;;
		esac
	done
	if [ "$#" -gt 0 ]; then
		echo "log: $*"
	else
		while IFS= read -r line; do
			echo "log: $line"
		done
	fi
}

procd_open_instance() { echo "open_instance $*"; }
procd_set_param() { echo "set_param $*"; }
procd_append_param() { echo "append_param $*"; }
procd_close_instance() { echo "close_instance"; }
procd_send_signal() { echo "send_signal $*"; }
procd_add_reload_trigger() { echo "reload_trigger $*"; }

# rc.common's procd start: the service's instances and triggers in one message. rc.common
# drops start_service's status; it is shown here for the test.
# shellcheck disable=SC2120 # rc.common passes the command's arguments
start() {
	echo "open_service"
	start_service "$@"
	echo "start_service status $?"
	service_triggers
	echo "close_service"
}

initscript=$1
action=$2
. "$initscript"
# shellcheck disable=SC2034 # used by the init script's functions
PROG=$TEST_PROG
# shellcheck disable=SC2034
CONVERT=$TEST_CONVERT
# shellcheck disable=SC2034
CONF=$TEST_CONF

case "$action" in
start) start ;;
reload) reload_service ;;
*)
	echo "rc-procd.sh: unknown action $action" >&2
	exit 2
	;;
esac
