# Sourced by setup.sh: install optional Debian packages (bubblewrap, chromium) without ever
# failing the setup. A fresh cloud VM often holds the dpkg lock at boot (unattended-upgrades):
# wait for it a bounded time (ARENA_APT_WAIT seconds, default 120), then go on with a warning.
apt_install() {
  local wait="${ARENA_APT_WAIT:-120}" out
  local opts=(-o "DPkg::Lock::Timeout=${wait}" -qq)
  if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then  # never updated (a fresh machine)
    timeout "$((wait + 300))" apt-get "${opts[@]}" update >/dev/null 2>&1 || true
  fi
  for attempt in 1 2; do
    if out=$(DEBIAN_FRONTEND=noninteractive timeout "$((wait + 900))" apt-get "${opts[@]}" install -y "$@" 2>&1); then
      return 0
    fi
    case "$out" in
      *lock*) break ;;  # busy past the wait: an update would wait on it too
    esac
    # Not the lock: the package index may be stale. Update once, then try again.
    [ "$attempt" = 1 ] && { timeout "$((wait + 300))" apt-get "${opts[@]}" update >/dev/null 2>&1 || true; }
  done
  echo "warning: could not install $* with apt-get ($(printf '%s' "$out" | tail -n 1)); going on without it" >&2
  return 0
}
