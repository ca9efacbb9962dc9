package container

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"plumb/actions"
)

// crun compiles the seccomp profile of config.json into a BPF filter with
// libseccomp at every start: about 30 ms for Docker's profile, most of a
// container's start without a network. Upstream crun keeps the filters it
// compiled in its state directory (.cache/seccomp, named by a checksum of
// the profile, crun, libseccomp and the kernel), but only when built with
// libgcrypt, and Debian's crun 1.8 is not. plumb does the same beside its
// runtime state: the first container with a profile keeps crun's filter
// (a poststart hook copies <runtime state>/<id>/seccomp.bpf, which crun
// wrote before it started the process), and the next ones hand it to crun
// as the annotation run.oci.seccomp_bpf_data, which crun loads as given.
// Both show in the plan, in config.json.

// bpfDataAnnotation is crun's annotation for a precompiled filter.
const bpfDataAnnotation = "run.oci.seccomp_bpf_data"

// maxFilter is the largest filter a cached file may hold: the kernel's
// BPF_MAXINSNS (4096) instructions of 8 bytes.
const maxFilter = 4096 * 8

// SeccompCacheDir is where compiled filters are kept, in the state
// directory: per boot, like the runtime's own state, so a new kernel
// never meets an old filter.
func SeccompCacheDir(stateDir string) string {
	return filepath.Join(stateDir, "cache", "seccomp")
}

// libDirs are where a dynamically linked crun finds libseccomp.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}

// filterKey names a compiled filter by everything its bytes depend on:
// the profile's text (as config.json holds it), the runtime's binary, the
// libseccomp it may load and what steers the loader (the dynamic
// linker's cache, which ldconfig rewrites whenever a library package
// changes, and LD_LIBRARY_PATH and LD_PRELOAD), the kernel and the
// annotations that change how crun compiles. "" when the runtime or the
// linker's cache cannot be found or identified: no filter is then kept or
// used.
func filterKey(runtime, profile string, annotations map[string]string) string {
	bin, err := exec.LookPath(runtime)
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "plumb seccomp filter v1\x00%s\x00", bin)
	if !statInto(h, bin) || !statInto(h, "/etc/ld.so.cache") {
		return ""
	}
	for _, d := range libDirs {
		// The soname crun links, a link to the file a package upgrade
		// replaces (stat follows it). Not a Glob: a library directory
		// holds a thousand names.
		l := filepath.Join(d, "libseccomp.so.2")
		fmt.Fprintf(h, "%s\x00", l)
		statInto(h, l)
	}
	fmt.Fprintf(h, "%q\x00%q\x00", os.Getenv("LD_LIBRARY_PATH"), os.Getenv("LD_PRELOAD"))
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	for _, f := range [][]byte{u.Release[:], u.Version[:], u.Machine[:]} {
		h.Write(f)
	}
	fmt.Fprintf(h, "\x00%s\x00%q\x00", profile, annotations["run.oci.seccomp_fail_unknown_syscall"])
	return hex.EncodeToString(h.Sum(nil))
}

// statInto writes what identifies the file at path (following links) into
// h: its device, inode, size and change times; false when it has none.
func statInto(h hash.Hash, path string) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		h.Write([]byte("absent\x00"))
		return false
	}
	for _, v := range []int64{int64(st.Dev), int64(st.Ino), st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec} {
		h.Write(strconv.AppendInt(nil, v, 10))
		h.Write([]byte{0})
	}
	return true
}

// readFilter is the compiled filter at path when it can be trusted: a
// regular file (not a symbolic link, and no other name for it) of plumb's
// user, writable by no other, whose size is a whole number of BPF
// instructions. The cache's directory is in the state directory, which
// plumb has checked is its own (plan.Store's trust checks). Anything else is not used
// (and is replaced by the next container's).
func readFilter(path string) ([]byte, bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o022 != 0 {
		return nil, false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() || st.Nlink != 1 {
		return nil, false
	}
	if n := fi.Size(); n == 0 || n%8 != 0 || n > maxFilter {
		return nil, false
	}
	data := make([]byte, fi.Size())
	if n, err := f.ReadAt(data, 0); err != nil || n != len(data) {
		return nil, false
	}
	return data, true
}

// cacheFilter makes crun load the filter kept for the spec's profile, or
// adds the hook that keeps the one it compiles. A runtime other than crun
// (runc has no such annotation), a spec without a profile or a runtime
// that cannot be identified leave the spec as it is.
func cacheFilter(s *specs.Spec, rt actions.Runtime, id, cacheDir string) error {
	if s.Linux == nil || s.Linux.Seccomp == nil || filepath.Base(rt.Name) != "crun" {
		return nil
	}
	text, err := seccompText(s.Linux.Seccomp)
	if err != nil {
		return err
	}
	key := filterKey(rt.Name, text, s.Annotations)
	if key == "" {
		return nil
	}
	kept := filepath.Join(cacheDir, key)
	if data, ok := readFilter(kept); ok {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[bpfDataAnnotation] = base64.StdEncoding.EncodeToString(data)
		return nil
	}
	if s.Hooks == nil {
		s.Hooks = &specs.Hooks{}
	}
	s.Hooks.Poststart = append(s.Hooks.Poststart, keepFilterHook(filepath.Join(rt.State, id, "seccomp.bpf"), kept))
	return nil
}

// keepFilterHook copies the filter crun compiled to the cache, through a
// file of its own renamed into place, so that a reader never sees part of
// it. The runtime writes the container's state on a hook's stdin, which
// is drained first (see rootHook). It never fails the container: a
// filter not kept is compiled again next time.
func keepFilterHook(compiled, kept string) specs.Hook {
	script := `cat >/dev/null; umask 077; t="$2.$$"; ` +
		`{ mkdir -p -- "${2%/*}" && cp -- "$1" "$t" && mv -f -- "$t" "$2"; } 2>/dev/null || rm -f -- "$t"; exit 0`
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script, "sh", compiled, kept}}
}
