package client

// CrashForTest stops a group consumer the way a crash would: the heartbeat
// loop stops and nothing is committed, announced or left, so its
// partitions stay with its (dead) membership until the session times out.
func (co *Consumer) CrashForTest() { _ = co.close(false) }

// FreezeForTest stops (true) or restarts (false) a group consumer's
// heartbeats, as SIGSTOP and SIGCONT would, without touching its state.
func (co *Consumer) FreezeForTest(frozen bool) {
	g := co.g
	g.freezeMu.Lock()
	switch {
	case frozen && g.thaw == nil:
		g.thaw = make(chan struct{})
	case !frozen && g.thaw != nil:
		close(g.thaw)
		g.thaw = nil
	}
	g.freezeMu.Unlock()
	g.kick()
}
