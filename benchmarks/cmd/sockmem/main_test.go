package main

import "testing"

func TestParseProc(t *testing.T) {
	sockstat := "sockets: used 312\nTCP: inuse 20011 orphan 0 tw 3 alloc 20014 mem 2\nUDP: inuse 1 mem 0\n"
	if got := parseSockstat([]byte(sockstat)); got["inuse"] != 20011 || got["mem"] != 2 || got["tw"] != 3 {
		t.Errorf("parseSockstat = %v; want inuse 20011, tw 3, mem 2", got)
	}
	meminfo := "MemTotal:       24684004 kB\nSlab:             212340 kB\nSReclaimable:      90000 kB\nSUnreclaim:       122340 kB\n"
	if got := parseMeminfo([]byte(meminfo)); got["Slab"] != 212340 || got["SUnreclaim"] != 122340 {
		t.Errorf("parseMeminfo = %v; want Slab 212340, SUnreclaim 122340", got)
	}
	slab := "slabinfo - version: 2.1\n# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n" +
		"TCP                  105    117   2368   13    8 : tunables    0    0    0 : slabdata      9      9      0\n" +
		"filp                 912   1008    192   21    1 : tunables    0    0    0 : slabdata     48     48      0\n"
	got := parseSlabinfo([]byte(slab))
	if got["TCP"] != 105*2368 || got["filp"] != 912*192 || len(got) != 2 {
		t.Errorf("parseSlabinfo = %v; want TCP %d, filp %d", got, 105*2368, 912*192)
	}
	if m := median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Errorf("median = %v; want 2.5", m)
	}
}
