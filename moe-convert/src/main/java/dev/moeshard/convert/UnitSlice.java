package dev.moeshard.convert;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The {@code index}-th of {@code count} slices of a plan's units, 0-based: the units at positions {@code index},
 * {@code index + count}, {@code index + 2·count}, ... of the plan's order. A slice is a fixed function of the plan, so
 * every worker that planned the same job agrees on which units are whose; spreading them round-robin keeps slices of
 * a plan whose units are much alike (shards of one size) within one unit of each other.
 */
public record UnitSlice(int index, int count) {
    public UnitSlice {
        if (count < 1) {
            throw new UsageException("--unit I/N: N must be at least 1, got " + count);
        }
        if (index < 0 || index >= count) {
            throw new UsageException("--unit I/N: I must lie in [0, " + count + "), got " + index);
        }
    }

    /** Every unit: the single slice of one. */
    public static UnitSlice all() {
        return new UnitSlice(0, 1);
    }

    /** {@code I/N}, as {@code --unit} takes it. */
    public static UnitSlice parse(String text) {
        String[] parts = text.strip().split("/", -1);
        if (parts.length != 2) {
            throw new UsageException("--unit takes I/N (the I-th of N slices, 0-based), got '" + text + "'");
        }
        try {
            return new UnitSlice(Integer.parseInt(parts[0].strip()), Integer.parseInt(parts[1].strip()));
        } catch (NumberFormatException e) {
            throw new UsageException("--unit takes I/N with whole numbers, got '" + text + "'");
        }
    }

    /**
     * The slice a scheduler gave this process, from its environment: a Slurm array task
     * ({@code SLURM_ARRAY_TASK_ID} with {@code SLURM_ARRAY_TASK_COUNT}, or with {@code SLURM_ARRAY_TASK_MIN} and
     * {@code SLURM_ARRAY_TASK_MAX} where the count is missing), or a Kubernetes Indexed Job's
     * {@code JOB_COMPLETION_INDEX} with {@code units} slices (its completions, which the pod cannot see). Empty when
     * neither is set: the process then runs every unit itself.
     *
     * @param units the slice count for {@code JOB_COMPLETION_INDEX} ({@code --units N}), or null
     */
    public static Optional<UnitSlice> fromEnvironment(Map<String, String> env, Integer units) {
        String slurmId = env.get("SLURM_ARRAY_TASK_ID");
        if (slurmId != null) {
            int id = number(env, "SLURM_ARRAY_TASK_ID");
            if (env.get("SLURM_ARRAY_TASK_COUNT") != null) {
                int min = env.get("SLURM_ARRAY_TASK_MIN") == null ? 0 : number(env, "SLURM_ARRAY_TASK_MIN");
                return Optional.of(new UnitSlice(id - min, number(env, "SLURM_ARRAY_TASK_COUNT")));
            }
            if (env.get("SLURM_ARRAY_TASK_MIN") != null && env.get("SLURM_ARRAY_TASK_MAX") != null) {
                int min = number(env, "SLURM_ARRAY_TASK_MIN");
                return Optional.of(new UnitSlice(id - min, number(env, "SLURM_ARRAY_TASK_MAX") - min + 1));
            }
            throw new UsageException("SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
                    + "SLURM_ARRAY_TASK_MIN/MAX is: cannot tell how many slices the array has; pass --unit I/N");
        }
        String k8s = env.get("JOB_COMPLETION_INDEX");
        if (k8s != null) {
            if (units == null) {
                throw new UsageException("JOB_COMPLETION_INDEX is set: pass --units N, the Indexed Job's "
                        + "completions, so that every pod cuts the plan the same way");
            }
            return Optional.of(new UnitSlice(number(env, "JOB_COMPLETION_INDEX"), units));
        }
        return Optional.empty();
    }

    private static int number(Map<String, String> env, String name) {
        try {
            return Integer.parseInt(env.get(name).strip());
        } catch (NumberFormatException e) {
            throw new UsageException(name + " must be a whole number, got '" + env.get(name) + "'");
        }
    }

    /** This slice's units of {@code units}, in the plan's order. */
    public <T> List<T> select(List<T> units) {
        List<T> mine = new ArrayList<>();
        for (int i = index; i < units.size(); i += count) {
            mine.add(units.get(i));
        }
        return mine;
    }

    @Override
    public String toString() {
        return index + "/" + count;
    }
}
