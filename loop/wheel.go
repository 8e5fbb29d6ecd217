package loop

// wheelSlots is the number of slots of the per-loop timing wheel; with
// TickInterval = 100 ms it spans 102.4 s, and later deadlines wait for
// their round.
const wheelSlots = 1024

// wheel is a hashed timing wheel owned by one event loop. Each connection
// has at most one entry (its earliest deadline); entries are intrusive, so
// scheduling allocates nothing and costs O(1). On expiry the connection
// works out which of its deadlines is due and reschedules itself, so a
// busy connection just moves a field instead of touching the wheel on
// every request.
type wheel struct {
	now     int32 // current tick
	slots   [wheelSlots]*Conn
	scratch []*Conn // reused by advance
}

// schedule (re)arms c to fire at tick at (clamped to the next tick).
func (w *wheel) schedule(c *Conn, at int32) {
	if c.tslot >= 0 {
		w.unlink(c)
	}
	if at <= w.now {
		at = w.now + 1
	}
	c.tat = at
	slot := int32(at % wheelSlots)
	c.tslot = slot
	c.tprev = nil
	c.tnext = w.slots[slot]
	if c.tnext != nil {
		c.tnext.tprev = c
	}
	w.slots[slot] = c
}

// slotDue marks an entry detached by advance and not yet handled; cancel
// and schedule clear it, so advance can tell it was changed meanwhile.
const slotDue = -2

// cancel removes c's entry, if any, including one already due in the
// running advance.
func (w *wheel) cancel(c *Conn) {
	if c.tslot >= 0 {
		w.unlink(c)
	}
	c.tslot = -1
}

func (w *wheel) unlink(c *Conn) {
	if c.tprev != nil {
		c.tprev.tnext = c.tnext
	} else {
		w.slots[c.tslot] = c.tnext
	}
	if c.tnext != nil {
		c.tnext.tprev = c.tprev
	}
	c.tnext, c.tprev, c.tslot = nil, nil, -1
}

// advance moves the wheel to tick now, calling fire for every entry that
// is due. A slot is detached before its entries run, so fire may freely
// reschedule or cancel any connection, including others in the same slot.
func (w *wheel) advance(now int32, fire func(*Conn)) {
	for w.now < now {
		w.now++
		slot := int32(w.now % wheelSlots)
		due := w.scratch[:0]
		for c := w.slots[slot]; c != nil; {
			next := c.tnext
			c.tnext, c.tprev, c.tslot = nil, nil, slotDue
			due = append(due, c)
			c = next
		}
		w.slots[slot] = nil
		for i, c := range due {
			due[i] = nil
			if c.tslot != slotDue {
				continue // rescheduled or cancelled by an earlier fire
			}
			c.tslot = -1
			switch {
			case c.closed:
			case c.tat <= w.now:
				fire(c)
			default:
				w.schedule(c, c.tat) // a later round
			}
		}
		w.scratch = due[:0]
	}
}
