using System.Diagnostics;
using FeatureStore.Redis.Online;

namespace FeatureStore.Ingest;

internal sealed partial class OnlineTileWriter
{
    // A thread that needs a build before it is over helps with it as this worker (its scratch state and arena);
    // the workers started for a build are numbered below it.
    private static int HelperWorker => Participants - 1;

    private static int Participants => Math.Max(2, Workers);

    /// <summary>Adds the built states of the sealed batch of buffer <paramref name="side"/> to <paramref name="script"/>, in the order first touched, with their expiry where due.</summary>
    private void Queue(int side, BatchWriteScript script)
    {
        var dirty = _events[side];
        var arenas = _arenas[side];
        var now = Environment.TickCount64;
        for (var i = 0; i < dirty.Count; i++)
        {
            var cached = dirty[i];
            var view = cached.View;
            var slack = ExpirySlackMs(view);
            var expiry = 0L;
            if (now - cached.ExpirySetAt >= slack)
            {
                expiry = view.TtlMs + _allowedLatenessMs + slack;
                cached.ExpirySetAt = now;
            }

            script.State(cached.Key, cached.Field, arenas[cached.EncodedArena].WrittenMemory.Slice(cached.EncodedStart, cached.EncodedLength), expiry);
        }

        dirty.Clear();
    }

    /// <summary>
    /// The build of one sealed batch. Its touched states are built (decoded, updated, compacted, encoded) in
    /// slices, each into its worker's arena, by whichever workers take part: those started for it (on the thread
    /// that sealed the batch and the thread pool, or in the background), and a thread that needs the result
    /// before it is over, which helps instead of waiting (<see cref="Help"/>). Workers take slices in turn rather
    /// than a share each: states cost very different amounts (a merchant's hundred events against a user's ten),
    /// and the first touched, first in the list, are often the busiest. Whoever completes the last slice adds
    /// every state to the script, in order, and completes the build.
    /// </summary>
    private sealed class BuildRun
    {
        private readonly OnlineTileWriter _writer;
        private readonly int _side;
        private readonly BatchWriteScript _script;
        private readonly int _loads;
        private readonly TimeSpan _loadTime;
        private readonly int _count;
        private readonly int _slices;
        private readonly long _started = Stopwatch.GetTimestamp();
        private readonly long _allocated = GC.GetTotalAllocatedBytes();
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _taken = -1;
        private int _completed;
        private Exception? _failure;

        /// <summary>
        /// Seals buffer <paramref name="side"/> (its rows grouped by state) and empties its arenas; no state is built
        /// yet. The write it builds is batch <paramref name="batch"/>'s, moving <paramref name="partitions"/>.
        /// </summary>
        public BuildRun(OnlineTileWriter writer, long batch, int side, BatchWriteScript script, IReadOnlyList<Confluent.Kafka.TopicPartition> partitions, int loads, TimeSpan loadTime)
        {
            _writer = writer;
            _side = side;
            _script = script;
            _loads = loads;
            _loadTime = loadTime;
            var dirty = writer._events[side];
            dirty.Seal();
            foreach (var arena in writer._arenas[side])
            {
                arena.ResetWrittenCount();
            }

            _count = dirty.Count;
            _slices = (_count + BuildSlice - 1) / BuildSlice;
            Write = new PreparedWrite(script, partitions, _done.Task, Help) { Batch = batch };
        }

        /// <summary>The write this run builds; its figures are set when the build is over.</summary>
        public PreparedWrite Write { get; }

        /// <summary>Completes when the script's arguments hold every state; faults when building failed.</summary>
        public Task Completion => _done.Task;

        /// <summary>Builds everything now: on this thread, with one worker per core when the batch is large.</summary>
        public void RunHere()
        {
            if (_slices == 0)
            {
                Finish();
            }
            else if (_count < ParallelBuildMinimum || Workers == 1)
            {
                Work(0);
            }
            else
            {
                Parallel.For(0, Workers, Work);
            }
        }

        /// <summary>
        /// Starts one worker per core but one on the thread pool and returns: the core left over reads the next
        /// batch, and whoever needs this build before it is over helps with it.
        /// </summary>
        public void StartInBackground()
        {
            if (_slices == 0)
            {
                Finish();
                return;
            }

            for (var worker = 0; worker < HelperWorker; worker++)
            {
                ThreadPool.QueueUserWorkItem(Work, worker, preferLocal: false);
            }
        }

        /// <summary>Builds slices on the calling thread until none is left to take (others may still be building theirs).</summary>
        public void Help() => Work(HelperWorker);

        /// <summary>Helps, then waits for the slices still being built by others.</summary>
        public Task FinishAsync()
        {
            Help();
            return Completion;
        }

        private void Work(int worker)
        {
            var arena = _writer._arenas[_side][worker];
            int slice;
            while ((slice = Interlocked.Increment(ref _taken)) < _slices)
            {
                try
                {
                    if (Volatile.Read(ref _failure) is null)
                    {
                        _writer.Build(_side, slice * BuildSlice, Math.Min(_count, (slice + 1) * BuildSlice), worker, arena);
                    }
                }
                catch (Exception ex)
                {
                    // Reported through the build's task, to whoever sends or waits for it.
                    Interlocked.CompareExchange(ref _failure, ex, null);
                }

                if (Interlocked.Increment(ref _completed) == _slices)
                {
                    Finish();
                }
            }
        }

        private void Finish()
        {
            if (Volatile.Read(ref _failure) is { } failure)
            {
                _done.SetException(failure);
                return;
            }

            try
            {
                _writer.Queue(_side, _script);
                Write.Figures = new BatchBuild(
                    _count, _loads, _writer._arenas[_side].Sum(a => (long)a.WrittenCount), _loadTime, Stopwatch.GetElapsedTime(_started), GC.GetTotalAllocatedBytes() - _allocated);
                _done.SetResult();
            }
            catch (Exception ex)
            {
                _done.SetException(ex);
            }
        }
    }
}
