package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"plumb/rootfs"
)

// limitFlags are the limits of one image's pull or import (plan.Limits):
// a hostile or broken source fails, naming the flag, instead of running
// for hours or filling the state directory.
type limitFlags struct {
	MaxTarTrailer   sizeFlag `name:"max-tar-trailer" default:"64KiB" placeholder:"SIZE" help:"Most bytes a layer may carry after its tar's end-of-archive marker (tar writers pad to a record of 10 KiB at most)."`
	MaxLayerSize    sizeFlag `name:"max-layer-size" default:"16GiB" placeholder:"SIZE" help:"Largest a layer's uncompressed stream may be."`
	MaxImageSize    sizeFlag `name:"max-image-size" default:"64GiB" placeholder:"SIZE" help:"Largest the new layers of one image may be together, uncompressed."`
	MaxLayerEntries int      `name:"max-layer-entries" default:"1000000" placeholder:"N" help:"Most files, directories and links one layer may hold (each takes an inode)."`
}

// pullFlags bound a pull's time (plan.Limits.MinRate, and a deadline).
type pullFlags struct {
	MinRate     sizeFlag      `name:"min-rate" default:"10KiB" placeholder:"SIZE" help:"Least a pull must read a second, averaged over 30 s; 0 for no floor."`
	PullTimeout time.Duration `name:"pull-timeout" default:"1h" placeholder:"DURATION" help:"Longest a pull may take, manifest and layers; 0 for no limit."`
}

// rateWindow is how long --min-rate is averaged over: long enough for a
// registry's pause between two blobs.
const rateWindow = 30 * time.Second

func (f limitFlags) limits() rootfs.Limits {
	return rootfs.Limits{MaxTrailer: int64(f.MaxTarTrailer), MaxLayer: int64(f.MaxLayerSize), MaxImage: int64(f.MaxImageSize), MaxEntries: f.MaxLayerEntries}
}

func (f pullFlags) limits(l rootfs.Limits) rootfs.Limits {
	l.MinRate, l.RateWindow = int64(f.MinRate), rateWindow
	return l
}

// sizeFlag is a size in bytes: a number with an optional binary suffix
// (K, M, G, T, with or without "iB" or "B": 64KiB, 16G).
type sizeFlag int64

func (s *sizeFlag) UnmarshalText(b []byte) error {
	t := strings.TrimSpace(string(b))
	num := strings.TrimRight(t, "KMGTiBkmgtb")
	unit := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(t[len(num):], "B"), "i"))
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
	n, err := strconv.ParseInt(num, 10, 64)
	sh, ok := shift[unit]
	if err != nil || !ok || n < 0 || n > (1<<62)>>sh {
		return fmt.Errorf("%q is not a size: give bytes, or a number with K, M, G or T (64KiB, 16G)", t)
	}
	*s = sizeFlag(n << sh)
	return nil
}
