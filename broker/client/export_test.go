package client

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
