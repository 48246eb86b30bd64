package groupcommit_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/groupcommit"
)

// recorder is a Store that keeps every batch and can be told to refuse an item.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	refuse  int
	gate    chan struct{} // when set, the first store waits on it
}

func (r *recorder) store(_ context.Context, items []int) error {
	r.mu.Lock()
	gate := r.gate
	r.gate = nil
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if r.refuse != 0 && slices.Contains(items, r.refuse) {
		return errors.New("refused")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, slices.Clone(items))
	return nil
}

func (r *recorder) stored() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, b := range r.batches {
		out = append(out, b...)
	}
	slices.Sort(out)
	return out
}

func TestSubmit(t *testing.T) {
	t.Parallel()

	t.Run("SubmissionsWaitingForAStoreShareTheNext", func(t *testing.T) {
		t.Parallel()
		gate := make(chan struct{})
		r := &recorder{gate: gate}
		b := &groupcommit.Batcher[int]{Store: r.store}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, b.Submit(context.Background(), []int{0})) }()
		// The first store is held; these queue behind it and are stored together.
		time.Sleep(20 * time.Millisecond)
		for i := 1; i <= 20; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); require.NoError(t, b.Submit(context.Background(), []int{i})) }()
		}
		time.Sleep(50 * time.Millisecond)
		close(gate)
		wg.Wait()
		want := make([]int, 21)
		for i := range want {
			want[i] = i
		}
		require.Equal(t, want, r.stored())
		r.mu.Lock()
		defer r.mu.Unlock()
		require.Less(t, len(r.batches), 21, "queued submissions share stores")
	})

	t.Run("ARefusedSubmissionFailsAloneAndTheOthersAreStored", func(t *testing.T) {
		t.Parallel()
		gate := make(chan struct{})
		r := &recorder{gate: gate, refuse: 7}
		b := &groupcommit.Batcher[int]{Store: r.store}
		errs := make([]error, 10)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); errs[0] = b.Submit(context.Background(), []int{0}) }()
		time.Sleep(20 * time.Millisecond)
		for i := 1; i < 10; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = b.Submit(context.Background(), []int{i}) }()
		}
		time.Sleep(50 * time.Millisecond)
		close(gate)
		wg.Wait()
		for i, err := range errs {
			if i == 7 {
				require.Error(t, err)
				continue
			}
			require.NoError(t, err, "submission %d", i)
		}
		require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 8, 9}, r.stored())
	})

	t.Run("MaxBatchNeverSplitsASubmission", func(t *testing.T) {
		t.Parallel()
		gate := make(chan struct{})
		r := &recorder{gate: gate}
		b := &groupcommit.Batcher[int]{Store: r.store, MaxBatch: 3}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, b.Submit(context.Background(), []int{0})) }()
		time.Sleep(20 * time.Millisecond)
		for _, items := range [][]int{{1, 2}, {3, 4}, {5, 6, 7, 8}} {
			wg.Add(1)
			go func() { defer wg.Done(); require.NoError(t, b.Submit(context.Background(), items)) }()
		}
		time.Sleep(50 * time.Millisecond)
		close(gate)
		wg.Wait()
		require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, r.stored())
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, batch := range r.batches {
			require.True(t, len(batch) <= 3 || len(batch) == 4, "batch %v", batch)
		}
	})

	t.Run("APanicFailsTheBatchNotTheProcess", func(t *testing.T) {
		t.Parallel()
		told := make(chan struct{}, 1)
		b := &groupcommit.Batcher[int]{Store: func(context.Context, []int) error { panic("boom") },
			OnPanic: func(any, []byte) { told <- struct{}{} }}
		require.ErrorContains(t, b.Submit(context.Background(), []int{1}), "boom")
		require.Len(t, told, 1)
	})

	t.Run("ACallerThatStopsWaitingGetsItsContextError", func(t *testing.T) {
		t.Parallel()
		gate := make(chan struct{})
		r := &recorder{gate: gate}
		b := &groupcommit.Batcher[int]{Store: r.store}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, b.Submit(ctx, []int{1}), context.DeadlineExceeded)
		close(gate)
		require.Eventually(t, func() bool { return len(r.stored()) == 1 }, time.Second, 5*time.Millisecond,
			"the store goes on")
	})
}
