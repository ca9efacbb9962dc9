package mkimage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Annotations of an OCI layout's index.json entry.
const (
	// AnnotationRefName is the OCI name of the entry: the tag, what `skopeo copy oci:DIR:TAG`
	// and `plumb image import DIR --name TAG` look for.
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationImageName is containerd's and Docker 25's full name of the entry.
	AnnotationImageName = "io.containerd.image.name"
)

// WriteDockerArchive writes img to path as a `docker save` archive tagged tag (its
// RepoTags), as `docker load` and `plumb image import` read it. The file appears whole or
// not at all.
func WriteDockerArchive(path, tag string, img v1.Image) error {
	t, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tarball.Write(t, img, tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteLayout writes img into the OCI image layout dir, named by tag: its index.json entry
// has the tag's tag as org.opencontainers.image.ref.name and the full name as
// io.containerd.image.name ("docker.io/plumb-demo/busybox:1"). dir is made when missing; an
// existing layout keeps its other images, and an entry of the same tag is replaced (one
// image per tag: give two images two tags to keep both in one layout, sharing their common
// blobs). A directory that holds something else is refused.
func WriteLayout(dir, tag string, img v1.Image) error {
	t, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		ents, rerr := os.ReadDir(dir)
		if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return rerr
		}
		if len(ents) > 0 {
			return fmt.Errorf("%s is not empty and not an OCI image layout (%v)", dir, err)
		}
		if lp, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	ann := map[string]string{AnnotationRefName: t.TagStr(), AnnotationImageName: fullName(t)}
	if err := lp.ReplaceImage(img, match.Annotation(AnnotationRefName, t.TagStr()), layout.WithAnnotations(ann)); err != nil {
		return fmt.Errorf("writing %s: %w", dir, err)
	}
	return nil
}

// fullName is t as Docker and containerd write full names: docker.io, not index.docker.io.
func fullName(t name.Tag) string {
	reg := t.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + t.RepositoryStr() + ":" + t.TagStr()
}

// Push writes img to a registry on this machine (plain http, as go-containerregistry speaks
// to localhost and 127.0.0.0/8) as ref, "127.0.0.1:5000/plumb-demo/busybox:1". A registry
// elsewhere is refused: this builder is for tests and demos that never leave the machine.
func Push(ctx context.Context, ref string, img v1.Image) error {
	t, err := pushTag(ref)
	if err != nil {
		return err
	}
	if err := remote.Write(t, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

// CheckPush says what is wrong with ref as Push's reference, before an image is built.
func CheckPush(ref string) error {
	_, err := pushTag(ref)
	return err
}

func pushTag(ref string) (name.Tag, error) {
	t, err := name.NewTag(ref)
	if err != nil {
		return name.Tag{}, fmt.Errorf("push reference %q (want HOST:PORT/REPO:TAG): %w", ref, err)
	}
	if !loopback(t.RegistryStr()) {
		return name.Tag{}, fmt.Errorf("push reference %q: the registry %s is not on this machine (localhost, 127.0.0.0/8 or [::1])", ref, t.RegistryStr())
	}
	return t, nil
}

// loopback says whether a registry's host[:port] is this machine.
func loopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
