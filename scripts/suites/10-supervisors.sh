# Real supervisors (../shared/ci): systemd --user, cron and podman behind the docker CLI together, then
# the namespaced system manager alone (it briefly borrows a cgroup controller from the host).
supervisors() {
    if ! is_root; then skip "supervisor suites: need root to start systemd/cron/podman"; return 0; fi
    if [ ! -d "$SHARED/ci" ]; then skip "supervisor suites: $SHARED/ci not found (set HEADROOM_SHARED_DIR)"; return 0; fi
    step "real supervisors: systemd --user, cron, podman"
    local up=()
    for s in systemd-user cron podman-docker; do
        if "$SHARED/ci/$s-up.sh" >"$LOG_DIR/$s-up.log" 2>&1; then up+=("$s")
        else skip "$s could not start (see $LOG_DIR/$s-up.log)"; fi
    done
    XDG_RUNTIME_DIR=/run/user/0 suite cargo supervisors-user -p headroom --no-fail-fast \
        --test install_systemd_user --test install_reapply --test hostile_journal --test install_cron --test install_docker
    for s in "${up[@]}"; do
        if [ "$s" = podman-docker ]; then
            # Only containers our tests named; the down script stops what it is given.
            "$SHARED/ci/$s-down.sh" $(docker ps -a --format '{{.Names}}' 2>/dev/null | grep '^headroom-' || true) \
                >>"$LOG_DIR/$s-up.log" 2>&1 || true
        else "$SHARED/ci/$s-down.sh" >>"$LOG_DIR/$s-up.log" 2>&1 || true; fi
    done

    step "real supervisors: namespaced system systemd (alone)"
    if SD_SYS_KEEP="myproxy headroom-" "$SHARED/ci/systemd-system-ns-up.sh" >"$LOG_DIR/systemd-system-up.log" 2>&1; then
        suite cargo supervisors-system -p headroom --no-fail-fast --test install_systemd_system
        "$SHARED/ci/systemd-system-ns-down.sh" >>"$LOG_DIR/systemd-system-up.log" 2>&1 || true
    else
        skip "system systemd namespace could not start (see $LOG_DIR/systemd-system-up.log)"
    fi
}
supervisors
