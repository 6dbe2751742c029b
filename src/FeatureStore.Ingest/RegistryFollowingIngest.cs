using System.Globalization;
using System.Text;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Kafka.Consuming;
using FeatureStore.Redis.Registry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Ingest;

/// <summary>
/// Ingest that follows the registry (docs/ingest.md): runs the project's applied version, compiled with its state
/// layout, rather than the repository file (the file is run only while nothing is applied), and when the registry's
/// head moves to a version that changes what ingest writes (<see cref="WrittenShape"/>), stops the running job
/// cleanly (what it read is written or read again: it resumes from the checkpoints) and starts a new one on that
/// version. It hears of new versions on <see cref="RegistryStore.ChangesChannel"/> and, in case a notice is missed,
/// by a slow poll. The one loop both the host's ingest job and <c>featurestore ingest</c> run.
/// </summary>
public sealed class RegistryFollowingIngest
{
    private readonly FeatureRepository _file;
    private readonly IngestOptions _options;
    private readonly IConnectionMultiplexer _multiplexer;
    private readonly string _keyPrefix;
    private readonly IngestMetrics _metrics;
    private readonly ILogger _logger;
    private RegistryNotices _notices = RegistryNotices.PollOnly();
    private IngestJob? _job;
    private long _version = -1;
    private long _refused;

    /// <summary>
    /// Follows the registry of <paramref name="file"/>'s project in the store of <paramref name="multiplexer"/> (keys
    /// under <paramref name="keyPrefix"/>); runs <paramref name="file"/> while nothing is applied.
    /// </summary>
    public RegistryFollowingIngest(FeatureRepository file, IngestOptions options, IConnectionMultiplexer multiplexer, string keyPrefix, IngestMetrics metrics, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(multiplexer);
        _file = file;
        _options = options;
        _multiplexer = multiplexer;
        _keyPrefix = keyPrefix;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>How often the registry's head is read besides the change notices (which a disconnection may lose).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Told each version run: at the start, on a move to another, and when a new version changes nothing ingest writes.</summary>
    public Action<IngestVersionNotice>? Notice { get; init; }

    /// <summary>The registry version run now (0: the file, nothing being applied; -1 before the start).</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>The running job's progress (unassigned between jobs).</summary>
    public IngestProgress Progress => Volatile.Read(ref _job)?.Progress ?? IngestProgress.Unassigned;

    /// <summary>Runs ingest on the registry's current version, moving to each version that changes what it writes, until <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var project = _file.Project;
        var registry = new RegistryStore(_multiplexer.GetDatabase(), _keyPrefix);
        await using var notices = await SubscribeAsync(registry, project).ConfigureAwait(false);
        _notices = notices;
        var running = await StartingVersionAsync(registry, project, cancellationToken).ConfigureAwait(false);
        if (running is null)
        {
            return; // stopped before the registry could be read
        }

        Announce(new IngestVersionNotice(running.Version, -1, IngestVersionChange.Started));
        while (true)
        {
            var next = await RunVersionAsync(running, registry, project, cancellationToken).ConfigureAwait(false);
            if (next is null)
            {
                return;
            }

            // From the version run last: a version followed without a restart counts.
            Announce(new IngestVersionNotice(next.Version, Version, IngestVersionChange.Moved));
            running = next;
        }
    }

    /// <summary>
    /// What ingest writes under a compiled repository, as text: equal texts, same job. The lateness settings, each
    /// source it consumes (topic, dead-letter topic, how its events are parsed) and each view's state groups (their
    /// signatures, slots, key and ttl), whether a group is building or serving aside: switching a built group in
    /// changes nothing ingest does.
    /// </summary>
    public static string WrittenShape(CompiledRepository repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        var text = new StringBuilder();
        var settings = repository.Repository.Settings;
        text.Append(CultureInfo.InvariantCulture, $"lateness {settings.AllowedLatenessMs} skew {settings.MaxFutureSkewMs}\n");
        foreach (var source in repository.Sources.OrderBy(s => s.Definition.Name, StringComparer.Ordinal))
        {
            var d = source.Definition;
            text.Append(CultureInfo.InvariantCulture, $"source {d.Name} {d.Topic} {d.DeadLetterTopic} {d.Format} {d.TimestampField} {d.TimestampFormat} ")
                .AppendJoin(',', d.Fields.Select(f => $"{f.Name}:{f.Kind}")).Append(" schema ").AppendJoin(',', source.Schema.Fields).Append(" keys ").AppendJoin(',', source.Schema.KeySlots).Append('\n');
            foreach (var view in source.Views)
            {
                text.Append(CultureInfo.InvariantCulture, $"view {view.Name} {view.Definition.Entity} ttl {view.TtlMs}\n");
                foreach (var group in repository.Layout.Views.GetValueOrDefault(view.Name)?.Groups ?? [])
                {
                    text.Append("group ").Append(group.Signature).Append(' ').Append(JsonSerializer.Serialize(group.Slots)).Append('\n');
                }
            }
        }

        return text.ToString();
    }

    // Runs one version until the stop, or until the registry moves to one that writes otherwise: then stops the job
    // cleanly and returns that version.
    private async Task<Running?> RunVersionAsync(Running running, RegistryStore registry, string project, CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _version, running.Version);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var job = IngestJobFactory.Create(running.Compiled, _options, _multiplexer.GetDatabase(), _keyPrefix, _metrics, _logger);
        Volatile.Write(ref _job, job);
        // The consume loop blocks while it reads a batch: it runs on its own thread so that notices are heard.
        var run = Task.Run(() => job.RunAsync(stop.Token), CancellationToken.None);
        Task<bool>? signal = null;
        Running? next = null;
        var watched = false;
        try
        {
            next = await WatchAsync();
            watched = true;
        }
        finally
        {
            // Moving on, or failing to watch (the job must not run on unwatched): the job finishes the batches it
            // built and leaves the group; the next one resumes from the checkpoints.
            if (next is not null || !watched)
            {
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }

        await run.ConfigureAwait(false);
        Volatile.Write(ref _job, null);
        return cancellationToken.IsCancellationRequested ? null : next;

        async Task<Running?> WatchAsync()
        {
            while (!run.IsCompleted)
            {
                signal ??= _notices.WaitAsync(PollInterval, cancellationToken);
                await Task.WhenAny(run, signal).ConfigureAwait(false);
                if (run.IsCompleted || cancellationToken.IsCancellationRequested)
                {
                    return null;
                }

                signal = null;
                var found = await NextVersionAsync(registry, project, running).ConfigureAwait(false);
                if (found is null)
                {
                    continue;
                }

                if (found.Shape != running.Shape)
                {
                    return found;
                }

                // A version that writes the same (a switch, a model, a description): this job goes on under it.
                Announce(new IngestVersionNotice(found.Version, running.Version, IngestVersionChange.Followed));
                running = found;
                Interlocked.Exchange(ref _version, running.Version);
            }

            return null;
        }
    }

    // The version to start on: the registry's current one, or the file when nothing is applied. The store may be
    // unreachable at the start: read again with backoff until it answers or the job stops.
    private async Task<Running?> StartingVersionAsync(RegistryStore registry, string project, CancellationToken cancellationToken)
    {
        var backoff = new RetryBackoff(_options.RetryInitialDelay, _options.RetryMaxDelay);
        while (true)
        {
            try
            {
                var current = await registry.GetCurrentAsync(project).ConfigureAwait(false);
                if (current is null)
                {
                    var compiled = CompiledRepository.Compile(_file);
                    return new Running(0, compiled, WrittenShape(compiled));
                }

                var running = Load(current, project);
                if (current.ContentHash != _file.ContentHash())
                {
                    IngestLog.FileDiffers(_logger, current.Version);
                }

                return running;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                IngestLog.RegistryUnreadable(_logger, project, ex.Message, backoff.Delay.TotalMilliseconds);
                try
                {
                    await Task.Delay(backoff.Delay, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }

                backoff.Failed();
            }
        }
    }

    // The registry's head when it differs from the version run, or null (unchanged, unreadable, or a version that
    // does not load: the running job goes on, and the refusal is logged once per version).
    private async Task<Running?> NextVersionAsync(RegistryStore registry, string project, Running running)
    {
        long head = 0;
        try
        {
            head = await registry.GetCurrentVersionNumberAsync(project).ConfigureAwait(false);
            if (head == 0 || head == running.Version || head == _refused)
            {
                return null;
            }

            var version = await registry.GetVersionAsync(project, head).ConfigureAwait(false);
            return version is null ? null : Load(version, project);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            IngestLog.RegistryUnreadable(_logger, project, ex.Message, PollInterval.TotalMilliseconds);
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or JsonException)
        {
            _refused = head;
            IngestLog.VersionRefused(_logger, head, ex.Message, running.Version);
            return null;
        }
    }

    private static Running Load(RegistryVersion version, string project)
    {
        var compiled = version.Load(project).Compile();
        return new Running(version.Version, compiled, WrittenShape(compiled));
    }

    private async Task<RegistryNotices> SubscribeAsync(RegistryStore registry, string project)
    {
        try
        {
            return await RegistryNotices.SubscribeAsync(_multiplexer, registry, project).ConfigureAwait(false);
        }
        catch (RedisException ex)
        {
            // No notices for now: the poll reads the head anyway.
            IngestLog.RegistryUnreadable(_logger, project, ex.Message, PollInterval.TotalMilliseconds);
            return RegistryNotices.PollOnly();
        }
    }

    private void Announce(IngestVersionNotice notice)
    {
        IngestLog.Version(_logger, notice.ToString());
        Notice?.Invoke(notice);
    }

    private sealed record Running(long Version, CompiledRepository Compiled, string Shape);
}

/// <summary>What <see cref="RegistryFollowingIngest"/> did about a registry version.</summary>
public enum IngestVersionChange
{
    /// <summary>Started on it.</summary>
    Started,

    /// <summary>Stopped the job of the version before and started one on it (it writes otherwise).</summary>
    Moved,

    /// <summary>Goes on with the same job under it (it writes what the version before wrote).</summary>
    Followed,
}

/// <summary>A registry version ingest runs now.</summary>
/// <param name="Version">The version (0: the repository file, nothing being applied).</param>
/// <param name="Previous">The version run before (-1 at the start).</param>
/// <param name="Change">How it came to run it.</param>
public sealed record IngestVersionNotice(long Version, long Previous, IngestVersionChange Change)
{
    /// <summary>One line for a terminal or a log.</summary>
    public override string ToString() => Change switch
    {
        IngestVersionChange.Started when Version == 0 => "runs the repository file (nothing applied to the registry yet)",
        IngestVersionChange.Started => $"runs registry version {Version}",
        IngestVersionChange.Moved => $"moved from {Name(Previous)} to registry version {Version}: it changes what ingest writes; resumed from the checkpoints",
        _ => $"follows registry version {Version}: it writes what {Name(Previous)} wrote; no restart",
    };

    private static string Name(long version) => version == 0 ? "the repository file" : $"version {version}";
}
