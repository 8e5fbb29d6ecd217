//go:build !linux

package loop

// drainWatcher is Linux-only; elsewhere armWritable falls back to a 1 ms
// poll of the loop's watch list.
type drainWatcher struct{}

func newDrainWatcher(*eventLoop) *drainWatcher { return nil }
func (*drainWatcher) arm(*Conn)                {}
func (*drainWatcher) forget(*Conn)             {}
func (*drainWatcher) stop()                    {}
