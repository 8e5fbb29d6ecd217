package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"time"
)

// runFileSchema names the layout of the raw data file below; bump it when
// a field changes meaning.
const runFileSchema = "streamd-bench-run/1"

// RunFile is the raw data of one benchmark run, written as
// results/run-<git describe>.json beside the report it belongs to. It holds
// every run's figures (RESULTS.md shows medians and spreads only), the load
// average as each run started and the exact server command line, so a
// reader can redo the statistics; `-render` rebuilds the report from it.
type RunFile struct {
	Schema    string         `json:"schema"`
	Code      string         `json:"code"`   // git describe --always, "-dirty" if the code differs (gitDescribe)
	Commit    string         `json:"commit"` // full hash of HEAD
	Baseline  string         `json:"baseline,omitempty"`
	Command   string         `json:"command"`
	Flags     []FlagValue    `json:"flags"`
	Plan      map[string]any `json:"plan"` // Plan's fields; durations as Go duration strings
	Machine   Machine        `json:"machine"`
	Pinned    bool           `json:"pinned"`
	LoadStart string         `json:"load_start"` // /proc/loadavg 1/5/15 min
	LoadEnd   string         `json:"load_end"`
	Started   time.Time      `json:"started"`
	Elapsed   string         `json:"elapsed"`
	Partial   bool           `json:"partial"`
	Servers   []ServerNote   `json:"servers"`
	Skipped   []string       `json:"skipped,omitempty"`
	Scenarios []RunScenario  `json:"scenarios"`
}

// RunScenario is one scenario of a RunFile.
type RunScenario struct {
	Name    string      `json:"name"`
	Title   string      `json:"title"`
	Param   string      `json:"param"`
	Primary string      `json:"primary"` // the figure the ratios and targets use
	Columns []RunColumn `json:"columns"` // what each figure key means
	Rows    []RunRow    `json:"rows"`
}

// RunColumn describes one figure key.
type RunColumn struct {
	Key         string `json:"key"`
	Label       string `json:"label"`
	LowerBetter bool   `json:"lower_better,omitempty"`
}

// RunRow is one server (in one variant) of a scenario.
type RunRow struct {
	Server  string   `json:"server"`
	Variant Variant  `json:"variant,omitzero"`
	Err     string   `json:"error,omitempty"` // the run that failed; later repeats were skipped
	Notes   []string `json:"notes,omitempty"`
	Runs    []RunRec `json:"runs"`
}

// RunRec is one run: what RunInfo records, and its figures.
type RunRec struct {
	RunInfo
	Figures Figures `json:"figures"` // keys as in the scenario's columns, plus any extra the scenario measures
}

func toRunFile(rep *Report) *RunFile {
	rf := &RunFile{Schema: runFileSchema, Code: rep.Code, Commit: rep.Commit, Baseline: rep.Baseline,
		Command: rep.Command, Flags: rep.Flags, Plan: planMap(rep.Plan), Machine: rep.Machine, Pinned: rep.Pinned,
		LoadStart: rep.LoadStart, LoadEnd: rep.LoadEnd, Started: rep.Started.UTC(),
		Elapsed: rep.Elapsed.Round(time.Second).String(), Partial: rep.Partial, Servers: rep.Servers, Skipped: rep.Skipped}
	for _, sr := range rep.Scenarios {
		rs := RunScenario{Name: sr.Name, Title: sr.Title, Param: sr.Param, Primary: sr.Primary}
		for _, c := range sr.Columns {
			rs.Columns = append(rs.Columns, RunColumn{Key: c.Key, Label: c.Label, LowerBetter: c.LowerBetter})
		}
		for _, row := range sr.Rows {
			rr := RunRow{Server: row.Server, Variant: row.Variant, Err: row.Err, Notes: row.Notes, Runs: []RunRec{}}
			for i, f := range row.Runs {
				rec := RunRec{Figures: Figures{}}
				if i < len(row.Info) {
					rec.RunInfo = row.Info[i]
				}
				for k, v := range f {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						continue // JSON has no NaN; the report shows "—" for it as well
					}
					rec.Figures[k] = v
				}
				rr.Runs = append(rr.Runs, rec)
			}
			rs.Rows = append(rs.Rows, rr)
		}
		rf.Scenarios = append(rf.Scenarios, rs)
	}
	return rf
}

// fromRunFile rebuilds a report. Scenario definitions (titles, columns,
// targets) come from this build of the driver, matched by name; a scenario
// it no longer knows keeps the title and columns the file recorded.
func fromRunFile(rf *RunFile) (*Report, error) {
	if rf.Schema != runFileSchema {
		return nil, fmt.Errorf("raw data schema %q, this driver reads %q", rf.Schema, runFileSchema)
	}
	plan, err := planFromMap(rf.Plan)
	if err != nil {
		return nil, err
	}
	elapsed, _ := time.ParseDuration(rf.Elapsed)
	rep := &Report{Plan: plan, Command: rf.Command, Flags: rf.Flags, Code: rf.Code, Commit: rf.Commit, Baseline: rf.Baseline,
		Started: rf.Started, Elapsed: elapsed, Pinned: rf.Pinned, LoadStart: rf.LoadStart, LoadEnd: rf.LoadEnd,
		Machine: rf.Machine, Servers: rf.Servers, Skipped: rf.Skipped, Partial: rf.Partial}
	defs := map[string]Scenario{}
	for _, sc := range append(knownScenarios(), tlsScenarios()...) {
		defs[sc.Name] = sc
	}
	for _, rs := range rf.Scenarios {
		sc, ok := defs[rs.Name]
		if !ok {
			sc = Scenario{Name: rs.Name, Title: rs.Title, Primary: rs.Primary, Chart: rs.Primary, Target: "(scenario no longer defined)"}
			for _, c := range rs.Columns {
				sc.Columns = append(sc.Columns, Column{Key: c.Key, Label: c.Label, Digits: 2, LowerBetter: c.LowerBetter})
			}
		}
		sr := &ScenarioResult{Scenario: sc, Param: rs.Param}
		for _, rr := range rs.Rows {
			row := &Row{Server: rr.Server, Variant: rr.Variant, Err: rr.Err, Notes: rr.Notes}
			for _, rec := range rr.Runs {
				row.Runs = append(row.Runs, rec.Figures)
				row.Info = append(row.Info, rec.RunInfo)
			}
			sr.Rows = append(sr.Rows, row)
		}
		rep.Scenarios = append(rep.Scenarios, sr)
	}
	return rep, nil
}

func writeRunFile(path string, rep *Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(toRunFile(rep), "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(js, '\n'), 0o644)
}

func readRunFile(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rf RunFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rep, err := fromRunFile(&rf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

var durationType = reflect.TypeFor[time.Duration]()

// planMap returns Plan's fields by name, durations as strings ("10s"), so
// the file reads the way the flags do.
func planMap(p Plan) map[string]any {
	m := map[string]any{}
	v := reflect.ValueOf(p)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type == durationType {
			m[f.Name] = time.Duration(v.Field(i).Int()).String()
		} else {
			m[f.Name] = v.Field(i).Interface()
		}
	}
	return m
}

func planFromMap(m map[string]any) (Plan, error) {
	var p Plan
	v := reflect.ValueOf(&p).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		x, ok := m[f.Name]
		if !ok {
			continue // a field added after the run
		}
		if f.Type == durationType {
			s, _ := x.(string)
			d, err := time.ParseDuration(s)
			if err != nil {
				return p, fmt.Errorf("plan %s: %v", f.Name, err)
			}
			v.Field(i).SetInt(int64(d))
			continue
		}
		b, _ := json.Marshal(x)
		if err := json.Unmarshal(b, v.Field(i).Addr().Interface()); err != nil {
			return p, fmt.Errorf("plan %s: %v", f.Name, err)
		}
	}
	return p, nil
}
