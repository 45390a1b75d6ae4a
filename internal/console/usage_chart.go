package console

import (
	"fmt"
	"strconv"
)

// chart is a bar chart drawn on the server as inline SVG: no script, and
// exposed to assistive technology as one image (role="img") named by its
// title and described by its desc. The page repeats its numbers in a
// table.
type chart struct {
	ID     string // prefix of the element IDs
	Title  string
	Desc   string
	Width  int // of the viewBox
	Height int
	Bars   []chartBar
	YTicks []chartTick
	XTicks []chartTick
	Series [2]string // names of the lower and upper part of each bar
	Plot   struct{ Left, Top, Right, Bottom float64 }
}

// chartBar is one hour or day: its lower part (Y, H) stacked under its
// upper part (Y2, H2).
type chartBar struct {
	X, W   float64
	Y, H   float64
	Y2, H2 float64
	Tip    string // shown on hover
}

// chartTick is one label of an axis, at X or Y.
type chartTick struct {
	X, Y  float64
	Label string
}

// Chart geometry, in viewBox units.
const (
	chartWidth   = 640
	chartHeight  = 200
	chartLeft    = 60
	chartRight   = 22
	chartTop     = 10
	chartBottom  = 30
	chartBarFill = 0.72 // share of each slot the bar takes
)

// usageCharts draws the tokens chart and the API calls chart of v.
func usageCharts(v *usageView) []chart {
	unit := "hour"
	if v.Period.Days > 0 {
		unit = "day"
	}
	tokens := newChart("tokens", "Tokens per "+unit+", "+v.Period.Span, [2]string{"Issued", "Refused"}, v.Slots,
		func(s usageSlot) (int64, int64) { return s.TokensIssued, s.TokensRefused })
	tokens.Desc = fmt.Sprintf("%s tokens issued and %s token requests refused in %s. %s",
		count(v.Totals.TokensIssued), count(v.Totals.TokensRefused), v.Period.Span, busiest(v.Slots, unit, func(s usageSlot) int64 { return s.TokensIssued }))
	calls := newChart("calls", "API calls per "+unit+", "+v.Period.Span, [2]string{"Accepted", "Refused"}, v.Slots,
		func(s usageSlot) (int64, int64) { return s.APICalls, s.APIRefused })
	calls.Desc = fmt.Sprintf("%s API calls accepted and %s refused in %s. %s",
		count(v.Totals.APICalls), count(v.Totals.APIRefused), v.Period.Span, busiest(v.Slots, unit, func(s usageSlot) int64 { return s.APICalls }))
	return []chart{tokens, calls}
}

// newChart lays out one stacked bar per slot; value gives the lower and
// upper part of a slot's bar.
func newChart(id, title string, series [2]string, slots []usageSlot, value func(usageSlot) (int64, int64)) chart {
	c := chart{ID: id, Title: title, Width: chartWidth, Height: chartHeight, Series: series}
	c.Plot.Left, c.Plot.Top, c.Plot.Right, c.Plot.Bottom = chartLeft, chartTop, chartWidth-chartRight, chartHeight-chartBottom
	var peak int64
	for _, s := range slots {
		a, b := value(s)
		peak = max(peak, a+b)
	}
	top := niceCeil(peak)
	plotW, plotH := c.Plot.Right-c.Plot.Left, c.Plot.Bottom-c.Plot.Top
	scale := func(n int64) float64 { return float64(n) / float64(top) * plotH }
	for _, n := range []int64{0, top / 2, top} {
		c.YTicks = append(c.YTicks, chartTick{Y: c.Plot.Bottom - scale(n), Label: count(n)})
	}
	slot := plotW / float64(max(len(slots), 1))
	every := max(1, (len(slots)+7)/8) // at most about eight labels
	for i, s := range slots {
		a, b := value(s)
		x := c.Plot.Left + float64(i)*slot
		bar := chartBar{X: round(x + slot*(1-chartBarFill)/2), W: round(slot * chartBarFill)}
		bar.H = round(scale(a))
		bar.Y = round(c.Plot.Bottom - bar.H)
		bar.H2 = round(scale(b))
		bar.Y2 = round(bar.Y - bar.H2)
		bar.Tip = fmt.Sprintf("%s: %s %s, %s %s", s.Long, count(a), lower(series[0]), count(b), lower(series[1]))
		c.Bars = append(c.Bars, bar)
		if (len(slots)-1-i)%every == 0 { // the newest slot is always labelled
			c.XTicks = append(c.XTicks, chartTick{X: round(x + slot/2), Label: s.Label})
		}
	}
	return c
}

// busiest names the slot with the most of value, for the chart's
// description.
func busiest(slots []usageSlot, unit string, value func(usageSlot) int64) string {
	best := -1
	for i, s := range slots {
		if value(s) > 0 && (best < 0 || value(s) > value(slots[best])) {
			best = i
		}
	}
	if best < 0 {
		return "Nothing was counted."
	}
	return fmt.Sprintf("The busiest %s was %s with %s.", unit, slots[best].Long, count(value(slots[best])))
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 2, so
// that the middle tick is a whole number).
func niceCeil(n int64) int64 {
	if n <= 2 {
		return 2
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// count writes n with thousands separators: 12,345.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func lower(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]|0x20) + s[1:]
}

func round(f float64) float64 { return float64(int(f*10+0.5)) / 10 }
