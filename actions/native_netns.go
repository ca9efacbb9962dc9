package actions

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A container's network namespace is made, its loopback brought up and the
// namespace deleted by three processes of the document's (unshare, ip, ip):
// a few milliseconds each of a run that takes 60. plumb does each itself
// when the real tool is the one on PATH (see Native), with the tool's
// effect and the tool's words when it fails.

// InNetns runs f on an OS thread of its own, in the network namespace
// of file when file is not "" (f's sockets then belong to it), and gives
// the thread back in plumb's namespace. f may leave the thread in another
// namespace (unshare): the thread is then set back, or ends with the
// goroutine when it cannot be, never serving other goroutines there.
func InNetns(file string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer own.Close()
		if file != "" {
			ns, err := os.Open(file)
			if err != nil {
				runtime.UnlockOSThread()
				errc <- err
				return
			}
			err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
			ns.Close()
			if err != nil {
				runtime.UnlockOSThread()
				errc <- err
				return
			}
		}
		ferr := f()
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			// Still locked: the thread ends with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("returning to plumb's network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// NativeOK: the command runs true too, which a test's stand-in or fault
// wrapper may replace: then it runs as a process.
func (a NetnsNew) NativeOK() bool { return systemTool("true") }

// Do makes the namespace as unshare --net=FILE true does: a new network
// namespace, bind-mounted on its file (which Touch made).
func (a NetnsNew) Do() error {
	path := Netns{Name: a.Name}.Path()
	return InNetns("", func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return toolError(a, "unshare: unshare failed: "+strerror(err))
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, ""); err != nil {
			return toolError(a, fmt.Sprintf("unshare: mount /proc/thread-self/ns/net on %s failed: %s", path, strerror(err)))
		}
		return nil
	})
}

// Do deletes the namespace as ip netns del does: its file unmounted
// (whether or not it was a mount) and removed.
func (a NetnsDel) Do() error {
	path := Netns{Name: a.Name}.Path()
	_ = unix.Unmount(path, unix.MNT_DETACH)
	if err := unix.Unlink(path); err != nil {
		return toolError(a, fmt.Sprintf("Cannot remove namespace file %q: %s", path, strerror(err)))
	}
	return nil
}

// NativeOK: plumb brings up a named namespace's loopback itself, which
// every container's plan does; other links go through ip.
func (a LinkSetUp) NativeOK() bool {
	return a.Dev == "lo" && a.In.Name != "" && a.In.PID == 0 && a.In.File == ""
}

// Do brings the loopback up as ip -n NAME link set lo up does: an
// RTM_NEWLINK setting IFF_UP on the device named lo, from a netlink
// socket made in the namespace.
func (a LinkSetUp) Do() error {
	path := a.In.Path()
	var fd int
	err := InNetns(path, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err != nil {
			fd = 0
			return fmt.Errorf("%w: %w", errSocket, err)
		}
		return nil
	})
	if err != nil {
		if fd > 0 {
			unix.Close(fd)
		}
		var pe *os.PathError
		switch {
		case errors.As(err, &pe) && pe.Path == path:
			return &ExecError{Argv: a.Argv(), Code: 255, Stderr: fmt.Sprintf("Cannot open network namespace %q: %s\n", a.In.Name, strerror(err))}
		case errors.As(err, new(unix.Errno)) && !errors.Is(err, errSocket):
			return &ExecError{Argv: a.Argv(), Code: 255, Stderr: fmt.Sprintf("setting the network namespace %q failed: %s\n", a.In.Name, strerror(err))}
		}
		return &ExecError{Argv: a.Argv(), Code: 1, Stderr: fmt.Sprintf("Cannot open netlink socket: %s\n", strerror(err))}
	}
	s := &netlinkGetter{fd: fd, buf: make([]byte, 4096)}
	defer s.close()
	info := unix.IfInfomsg{Family: unix.AF_UNSPEC, Flags: unix.IFF_UP, Change: unix.IFF_UP}
	name := append([]byte(a.Dev), 0)
	if err := s.ack(unix.RTM_NEWLINK, unsafe.Slice((*byte)(unsafe.Pointer(&info)), unix.SizeofIfInfomsg), attr{unix.IFLA_IFNAME, name}); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return &ExecError{Argv: a.Argv(), Code: 1, Stderr: fmt.Sprintf("Cannot find device %q\n", string(a.Dev))}
		}
		return &ExecError{Argv: a.Argv(), Code: 2, Stderr: "RTNETLINK answers: " + strerror(err) + "\n"}
	}
	return nil
}

// errSocket marks a netlink socket that could not be made.
var errSocket = errors.New("netlink socket")
