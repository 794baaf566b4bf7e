using System.Collections.Concurrent;
using k8s;
using k8s.Models;

namespace Muse.Deploy.Tests;

/// <summary>The rendered Kustomize overlays of <c>deploy/k8s</c>, as YAML and as typed Kubernetes objects.</summary>
internal static class Manifests
{
    /// <summary>The overlays users apply.</summary>
    public static readonly string[] Overlays = ["cpu", "gpu"];

    /// <summary><see cref="Overlays"/> plus the gpu overlay with the TLS component, as the README says to add it.</summary>
    public static TheoryData<string> Renderings => ["cpu", "gpu", TlsRendering];

    public const string TlsRendering = "gpu+tls";

    private static readonly ConcurrentDictionary<string, Lazy<Task<string>>> Rendered = new();

    public static string K8s => Path.Combine(Repo.Root, "deploy", "k8s");

    /// <summary>The output of <c>kubectl kustomize</c> for a rendering (once per test run).</summary>
    public static Task<string> RenderAsync(string rendering) =>
        Rendered.GetOrAdd(rendering, r => new Lazy<Task<string>>(() => KustomizeAsync(r))).Value;

    /// <summary>Every document of a rendering, loaded strictly: a field the Kubernetes API does not know fails.</summary>
    public static async Task<IReadOnlyList<object>> LoadAsync(string rendering) =>
        KubernetesYaml.LoadAllFromString(await RenderAsync(rendering), strict: true);

    public static IEnumerable<V1Deployment> Deployments(this IEnumerable<object> objects) => objects.OfType<V1Deployment>();

    public static V1Container Container(this V1Deployment deployment) => Assert.Single(deployment.Spec.Template.Spec.Containers);

    /// <summary>The plain value of an environment variable of the deployment's container, or null.</summary>
    public static string? Env(this V1Deployment deployment, string name) =>
        deployment.Container().Env?.SingleOrDefault(e => e.Name == name)?.Value;

    public static bool IsModelStage(this V1Deployment deployment) =>
        deployment.Spec.Template.Metadata.Labels.TryGetValue("app.kubernetes.io/component", out var c) && c == "model-stage";

    private static async Task<string> KustomizeAsync(string rendering)
    {
        var folder = rendering == TlsRendering ? TlsKustomization() : Path.Combine(K8s, "overlays", rendering);
        var (code, stdout, stderr) = await Tools.RunAsync(Tools.Kubectl!, ["kustomize", folder]);
        Assert.True(code == 0, $"kubectl kustomize {folder} failed ({code}):\n{stderr}");
        return stdout;
    }

    // Kustomize takes relative paths only, so the kustomization lives inside the repository (artifacts/ is ignored).
    private static string TlsKustomization()
    {
        var folder = Path.Combine(Repo.Root, "artifacts", "deploy-tests", "gpu-tls");
        Directory.CreateDirectory(folder);
        var overlay = Path.GetRelativePath(folder, Path.Combine(K8s, "overlays", "gpu"));
        var component = Path.GetRelativePath(folder, Path.Combine(K8s, "components", "tls"));
        File.WriteAllText(Path.Combine(folder, "kustomization.yaml"), $"""
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources: [{overlay}]
            components: [{component}]
            """);
        return folder;
    }
}
