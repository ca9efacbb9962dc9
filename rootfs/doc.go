// Package rootfs is what gives a container its files: overlay mounts
// (`plumb overlay mount`, and a container's root), layers unpacked from
// tarballs (`plumb layer import`), and images pulled from a registry or
// imported from a file (`plumb image pull|import|rm`) as per-layer
// directories shared between images, staged before the lock is taken. The
// kinds of their journals live in plan, beside every kind's.
package rootfs
