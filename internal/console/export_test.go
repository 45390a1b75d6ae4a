package console

import "context"

// HoldPasswordChecks takes every slot of the bound on concurrent password
// checks, as a flood of logins would, until release is called.
func (c *Console) HoldPasswordChecks() (release func()) {
	var dones []func()
	for range max(c.logins.Checks, 1) {
		done, err := c.logins.Enter(context.Background(), "192.0.2.250", true)
		if err != nil {
			panic(err)
		}
		dones = append(dones, done)
	}
	return func() {
		for _, done := range dones {
			done()
		}
	}
}
