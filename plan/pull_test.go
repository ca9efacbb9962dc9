package plan

import (
	"errors"
	"strings"
	"testing"

	"plumb/plan/image"
)

// TestFromImage: docker run's -w and -u win over an image's WorkingDir and
// User, and a field they override is not checked: `-w /` runs an image
// whose WorkingDir plumb refuses. Without the override the same config is
// refused, naming the field.
func TestFromImage(t *testing.T) {
	bad := image.Config{Cmd: []string{"sh"}, WorkingDir: "relative/dir", User: "a:b:c", Env: []string{"A=1"}}
	for _, tc := range []struct {
		name      string
		ct        Container
		wantErr   string
		wantDir   string
		wantUser  string
		imageUser bool
	}{
		{"-w and -u override both", Container{WorkDir: "/", User: "0:0"}, "", "/", "0:0", false},
		{"-w alone: the bad User is refused", Container{WorkDir: "/"}, "its config's User", "", "", false},
		{"-u alone: the bad WorkingDir is refused", Container{User: "0"}, "its config's WorkingDir", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.ct
			err := ct.FromImage(bad)
			if tc.wantErr != "" {
				var r *Refused
				if !errors.As(err, &r) || r.Flag != "image" || !strings.Contains(r.Msg, tc.wantErr) {
					t.Errorf("got %v, want a refusal of --image with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ct.WorkDir != tc.wantDir || ct.User != tc.wantUser || ct.ImageUser != tc.imageUser || strings.Join(ct.Env, " ") != "A=1" || strings.Join(ct.Cmd, " ") != "sh" {
				t.Errorf("got %+v", ct)
			}
		})
	}
	good := image.Config{Cmd: []string{"httpd"}, WorkingDir: "/www", User: "33"}
	ct := Container{Env: []string{"B=2"}}
	if err := ct.FromImage(good); err != nil || ct.WorkDir != "/www" || ct.User != "33" || !ct.ImageUser {
		t.Errorf("the image's own settings: %v %+v", err, ct)
	}
	if err := (&Container{}).FromImage(image.Config{}); err == nil {
		t.Error("an image with nothing to run was taken")
	}
}
