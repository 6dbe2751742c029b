using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;

namespace FeatureStore.Serving.Internal;

/// <summary>Builds the registry service's messages from a repository version, once per version.</summary>
internal static class RegistryAnswers
{
    private static readonly Dictionary<AggregationKind, string> AggregationNames =
        FeatureRepositoryLoader.Aggregations.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.First().Key);

    public static ListDefinitionsResponse Build(ServingRepository served)
    {
        var repository = served.Repository;
        var response = new ListDefinitionsResponse { Repository = served.Info };
        foreach (var entity in repository.Entities)
        {
            var info = new EntityInfo { Name = entity.Name, Description = entity.Description ?? "" };
            info.JoinKeys.AddRange(entity.JoinKeys);
            response.Entities.Add(info);
        }

        for (var v = 0; v < served.Views.Length; v++)
        {
            var view = served.Views[v];
            var info = new FeatureViewInfo
            {
                Name = view.Name,
                Entity = view.Definition.Entity,
                Source = view.Definition.Source,
                TtlMs = view.TtlMs,
            };
            info.JoinKeys.AddRange(served.JoinKeys[v]);
            for (var f = 0; f < view.Features.Count; f++)
            {
                var definition = view.Definition.Features[f];
                info.Features.Add(new FeatureInfo
                {
                    Name = definition.Name,
                    Aggregation = AggregationNames.GetValueOrDefault(definition.Aggregation, definition.Aggregation.ToString()),
                    Field = definition.Field ?? "",
                    WindowMs = definition.Window.WindowMs,
                    HopMs = definition.Window.HopMs,
                    ValueType = ServingRepository.ValueType(view.Features[f]),
                    Reference = view.Name + ":" + definition.Name,
                    FeatureView = view.Name,
                });
            }

            for (var g = 0; g < view.Groups.Count; g++)
            {
                var group = new StateGroupInfo { Signature = view.Groups[g].Signature, Building = view.Groups[g].Building };
                group.Features.AddRange(Enumerable.Range(0, view.Features.Count).Where(f => view.PlaceOf(f).Group == g).Select(f => view.Definition.Features[f].Name));
                info.StateGroups.Add(group);
            }

            response.FeatureViews.Add(info);
        }

        foreach (var model in repository.Models)
        {
            var info = new ModelInfo { Name = model.Name, PredictionTopic = model.Prediction.Topic };
            foreach (var version in model.Versions)
            {
                var versionInfo = new ModelVersionInfo { Version = version.Version, Description = version.Description ?? "" };
                versionInfo.Features.AddRange(version.Features);
                info.Versions.Add(versionInfo);
            }

            response.Models.Add(info);
        }

        foreach (var view in served.RequestViews)
        {
            var info = new RequestViewInfo { Name = view.Name, Description = view.Definition.Description ?? "" };
            info.Context.AddRange(view.Context.Select(c => new ContextFieldInfo { Name = c.Name, Type = c.Kind.ToString().ToLowerInvariant() }));
            info.Features.AddRange(view.Definition.Features.Select(f => new RequestFeatureInfo
            {
                Name = f.Name,
                ValueType = f.Type switch { Core.Events.FieldKind.Int => "int64", Core.Events.FieldKind.String => "string", _ => "double" },
                Expression = f.Expression,
                Reference = view.Name + ":" + f.Name,
            }));
            info.Reads.AddRange(view.Reads);
            info.StoredFeatures.AddRange(view.Dependencies.Select(d => d.View + ":" + d.Feature));
            response.RequestViews.Add(info);
        }

        return response;
    }

    /// <summary>One stage change as the registry service answers it.</summary>
    public static StageChangeInfo StageChange(Core.Models.StageChange change)
    {
        var info = new StageChangeInfo
        {
            Version = change.Version,
            Action = change.Action,
            FromStage = change.From is { } from ? Core.Models.ModelStages.Name(from) : "",
            ToStage = Core.Models.ModelStages.Name(change.To),
            At = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(change.AtMs)),
            Actor = change.Actor,
            Forced = change.Forced,
            Reason = change.Reason ?? "",
            Replaced = change.Replaced ?? "",
        };
        foreach (var gate in change.Gates)
        {
            var result = new GateResultInfo { Gate = gate.Gate, Passed = gate.Passed, Detail = gate.Detail ?? "" };
            if (gate.Value is { } value)
            {
                result.Value = value;
            }

            if (gate.Bound is { } bound)
            {
                result.Bound = bound;
            }

            info.Gates.Add(result);
        }

        return info;
    }

    /// <summary>
    /// <paramref name="definitions"/> with each building group's progress from <paramref name="groups"/>: a copy
    /// when a view has a building group, the same answer otherwise.
    /// </summary>
    public static ListDefinitionsResponse WithProgress(ListDefinitionsResponse definitions, IReadOnlyList<GroupStatus> groups)
    {
        if (!groups.Any(g => g.Building))
        {
            return definitions;
        }

        var answer = definitions.Clone();
        foreach (var status in groups.Where(g => g.Building))
        {
            var group = answer.FeatureViews.FirstOrDefault(v => v.Name == status.View)?.StateGroups.FirstOrDefault(g => g.Signature == status.Signature);
            if (group is null)
            {
                continue;
            }

            group.BuildState = status.State ?? "";
            group.RowsDone = status.RowsDone;
            group.RowsTotal = status.RowsTotal;
            group.BuildReason = status.Reason ?? "";
            group.BuildUpdatedAt = status.UpdatedMs is { } ms ? Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(ms)) : null;
        }

        return answer;
    }
}
